/**
 * OpenTelemetry traces, through the OpenTelemetry API only: the SDK (provider, exporter, sampler,
 * context manager) is the application's. With none registered, `tracingOn()` is false and the
 * producer, the worker and the group committer skip every tracing step, so a process without an SDK
 * pays one check per enqueue call, attempt and commit, and nothing more.
 *
 * A job carries its producer's trace context in the ledger (`jobs.trace_context`): the W3C
 * `traceparent` and `tracestate` of the enqueue span, written and read here without a registered
 * propagator, so the attempt spans continue the producer's trace whatever propagators the
 * application configured, in whichever process runs the job and after any number of retries.
 *
 * A leaf module (it imports only the OpenTelemetry API): the store, the producer and the worker all
 * use it.
 */
import {
  createTraceState,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  trace,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';

/** The instrumentation scope of every span jobledger makes. */
export const tracerName = 'jobledger';

/** jobledger's tracer (the API's proxy: it follows a provider registered later). */
export function tracer(): Tracer {
  return trace.getTracer(tracerName);
}

/**
 * The registered SDK's tracer, or undefined while none is registered: what the worker's hot path
 * asks once per attempt and per write, instead of `tracingOn()` and `tracer()` (each of which asks
 * the provider for its tracer again). Kept per global provider: `trace.disable()` and a new
 * registration replace the provider, and the next call sees it.
 */
export function activeTracer(): Tracer | undefined {
  const provider = trace.getTracerProvider();
  if (provider === known.provider && known.tracer) return known.tracer;
  const found = provider instanceof ProxyTracerProvider ? provider.getDelegateTracer(tracerName) : provider.getTracer(tracerName);
  known = { provider, tracer: found };
  return found;
}

let known: { provider: TracerProvider | undefined; tracer: Tracer | undefined } = { provider: undefined, tracer: undefined };

/**
 * Whether a tracing SDK is registered. The API's global provider is a proxy whose delegate stays
 * unset until an SDK registers one; a provider of another copy of the API is taken as registered.
 */
export function tracingOn(): boolean {
  return activeTracer() !== undefined;
}

/** What `jobs.trace_context` holds: the W3C Trace Context headers' values. */
interface StoredTraceContext {
  traceparent: string;
  tracestate?: string;
}

/** The stored form of `span`'s context, or null if it has none worth carrying. */
export function traceContextOf(span: Span): string | null {
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return null;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  const stored: StoredTraceContext = { traceparent: `00-${spanContext.traceId}-${spanContext.spanId}-${flags}` };
  const tracestate = spanContext.traceState?.serialize();
  if (tracestate) stored.tracestate = tracestate;
  return JSON.stringify(stored);
}

const traceparentPattern = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-|$)/;

/**
 * A context whose remote parent is the stored trace context, or the root context if there is none
 * or it does not parse (a job enqueued without tracing, a value written by hand): the attempt span
 * then starts a trace of its own rather than failing the attempt.
 */
export function contextFromStored(stored: string | null): Context {
  if (stored === null) return ROOT_CONTEXT;
  // The jobs of one bulk enqueue share its span's context: parsed once for all of them (a context
  // is immutable, so handing the same one to every attempt is safe).
  if (stored === lastParsed.stored) return lastParsed.context;
  const context = parseStored(stored);
  lastParsed = { stored, context };
  return context;
}

/** The last stored trace context `contextFromStored` parsed, and what it gave. */
let lastParsed: { stored: string | null; context: Context } = { stored: null, context: ROOT_CONTEXT };

function parseStored(stored: string): Context {
  let parsed: Partial<StoredTraceContext>;
  try {
    parsed = JSON.parse(stored) as Partial<StoredTraceContext>;
  } catch {
    return ROOT_CONTEXT;
  }
  const match = typeof parsed.traceparent === 'string' ? traceparentPattern.exec(parsed.traceparent) : null;
  if (!match || match[1] === 'ff') return ROOT_CONTEXT;
  const spanContext: SpanContext = { traceId: match[2]!, spanId: match[3]!, traceFlags: parseInt(match[4]!, 16), isRemote: true };
  if (typeof parsed.tracestate === 'string' && parsed.tracestate) spanContext.traceState = createTraceState(parsed.tracestate);
  return isSpanContextValid(spanContext) ? trace.setSpanContext(ROOT_CONTEXT, spanContext) : ROOT_CONTEXT;
}
