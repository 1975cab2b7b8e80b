/**
 * What the OpenTelemetry SDK itself costs per job, apart from jobledger: the floor under the
 * observability overhead `npm run bench -- --metrics` reports. In this process, without Redis or a
 * database:
 * - span: CPU per span shaped as a worker's attempt span (`startSpan` with the attempt's four
 *   attributes and an explicit start time, made the active context around an awaited step, ended),
 *   through a BatchSpanProcessor (default settings) into an in-memory exporter emptied every second;
 *   with no context manager and with the AsyncLocalStorage one.
 * - promise: the extra CPU per promise once an AsyncLocalStorage store has been entered (on Node 20
 *   and 22 a promise hook for every promise of the process; Node 24 keeps context without hooks).
 *
 *   npm run bench:spans -- [--spans 200000] [--promises 2000000]
 */
import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { parseArgs } from 'node:util';
import { context, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';

const usage = 'usage: npm run bench:spans -- [--spans N] [--promises N]';

function count(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(value) || value < 1000) {
    process.stderr.write(`bench:spans: ${flag}: expected a whole number of at least 1000, got ${JSON.stringify(raw)}\n${usage}\n`);
    process.exit(2);
  }
  return value;
}

/** CPU microseconds (user + system) per iteration of `body`, run `n` times after a warm-up of n / 10. */
async function cpuPerIteration(n: number, body: (i: number) => Promise<void>): Promise<number> {
  for (let i = 0; i < n / 10; i++) await body(i);
  const before = process.cpuUsage();
  for (let i = 0; i < n; i++) await body(i);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

/** An attempt's stand-in: one awaited step, as a handler's. */
async function step(i: number): Promise<number> {
  await Promise.resolve();
  return i;
}

async function spanCost(spans: number, withContextManager: boolean): Promise<number> {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
  const manager = withContextManager ? new AsyncLocalStorageContextManager().enable() : undefined;
  if (manager) context.setGlobalContextManager(manager);
  trace.setGlobalTracerProvider(provider);
  const emptying = setInterval(() => exporter.reset(), 1000);
  try {
    const tracer = trace.getTracer('jobledger');
    const withSpans = await cpuPerIteration(spans, async (i) => {
      const span = tracer.startSpan(
        'jobledger.attempt',
        {
          kind: SpanKind.CONSUMER,
          startTime: Date.now(),
          attributes: { 'jobledger.job.id': `job_${i}`, 'jobledger.job.type': 'bench.noop', 'jobledger.queue': 'default', 'jobledger.attempt': 1 },
        },
        ROOT_CONTEXT,
      );
      try {
        await context.with(trace.setSpan(ROOT_CONTEXT, span), () => step(i));
      } finally {
        span.end();
      }
      // Let the processor's timer and the exporter run, as a worker's event loop would.
      if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    });
    const bare = await cpuPerIteration(spans, async (i) => {
      await step(i);
      if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
    });
    await provider.shutdown();
    return withSpans - bare;
  } finally {
    clearInterval(emptying);
    trace.disable();
    context.disable();
  }
}

async function promiseCost(promises: number): Promise<{ off: number; on: number }> {
  const body = async (i: number): Promise<void> => void (await step(i));
  // How many promises an iteration makes, counted once by a hook that is removed again.
  let made = 0;
  const counter = createHook({ init: (_id, type) => void (type === 'PROMISE' && made++) }).enable();
  for (let i = 0; i < 1000; i++) await body(i);
  counter.disable();
  const perIteration = made / 1000;
  const iterations = Math.round(promises / perIteration);
  const off = await cpuPerIteration(iterations, body);
  const storage = new AsyncLocalStorage<{ entered: true }>();
  const on = await storage.run({ entered: true }, () => cpuPerIteration(iterations, body));
  return { off: off / perIteration, on: on / perIteration };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { spans: { type: 'string' }, promises: { type: 'string' }, help: { type: 'boolean' } }, strict: true });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const spans = count('--spans', values.spans, 200_000);
  const promises = count('--promises', values.promises, 2_000_000);
  // In this order: once an AsyncLocalStorage store has been entered, Node 20 keeps its promise hook
  // for the rest of the process, so what must run without it runs first.
  const plain = await spanCost(spans, false);
  const perPromise = await promiseCost(promises);
  const withStorage = await spanCost(spans, true);
  const us = (n: number): string => n.toFixed(2);
  process.stdout.write(
    [
      `OpenTelemetry SDK cost, Node ${process.version}, ${spans} spans, ${promises} promises:`,
      `  attempt span (BatchSpanProcessor, in-memory exporter), no context manager: ${us(plain)} µs CPU a span`,
      `  the same with the AsyncLocalStorage context manager:                      ${us(withStorage)} µs CPU a span`,
      `  a promise, no store entered: ${(perPromise.off * 1000).toFixed(0)} ns; after an AsyncLocalStorage store was entered: ${(perPromise.on * 1000).toFixed(0)} ns`,
      '',
    ].join('\n'),
  );
}

await main();
