/**
 * Turns an enqueue request into a validated ledger row, or throws a typed error naming the field,
 * what was expected and what came. Nothing is written before every item of a request has passed.
 */
import { InvalidOptionError, InvalidPayloadError, describeValue } from '../errors.js';
import { defaultMaxJsonDepth, isId, newId, textProblem, toStorableJson, type NewJob } from '../store/index.js';
import { validateBackoff, type BackoffPolicy } from './backoff.js';
import { validateAttempts, validatePriority, validateTimeout } from './define-job.js';
import type { JobType } from './define-job.js';
import type { JobRegistry } from './registry.js';

export interface EnqueueOptions {
  /**
   * Another enqueue with the same key (per queue), earlier or concurrent, returns the one job that
   * holds it; the first payload wins (`EnqueuedJob.created`, `payloadMatched`). Held as long as the
   * job is kept in the ledger (retention pruning frees it). Default none.
   */
  idempotencyKey?: string;
  /** Overrides the job type's priority. */
  priority?: number;
  /** Run no earlier than this many milliseconds from now. Default 0. */
  delayMs?: number;
  /** The run (`run_<ulid>`) the job belongs to. */
  runId?: string;
  /** Overrides the job type's maximum attempts. */
  maxAttempts?: number;
  /** Overrides the job type's backoff. */
  backoff?: BackoffPolicy;
  /** Overrides the job type's timeout. */
  timeoutMs?: number | null;
  /** Who enqueued, for the `job.enqueued` event. Default `"producer"`. */
  actor?: string;
}

export interface EnqueueRequest {
  name: string;
  payload: unknown;
  options?: EnqueueOptions;
}

const knownOptions = new Set(['idempotencyKey', 'priority', 'delayMs', 'runId', 'maxAttempts', 'backoff', 'timeoutMs', 'actor']);

/** The caps a payload is checked against (Config.maxPayloadBytes, Config.maxJsonDepth). */
export interface PayloadLimits {
  maxPayloadBytes: number;
  /** Default 64. */
  maxJsonDepth?: number;
}

export function validateEnqueue(registry: JobRegistry, request: EnqueueRequest, limits: PayloadLimits, now: number): NewJob {
  const type = registry.get(request.name);
  const options = request.options ?? {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) throw new InvalidOptionError(key, `one of the enqueue options (${[...knownOptions].join(', ')})`, key);
  }

  const payload = storablePayload(type, request.payload, limits);

  const delayMs = options.delayMs ?? 0;
  if (typeof delayMs !== 'number' || !Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new InvalidOptionError('delayMs', 'a whole number of milliseconds >= 0', delayMs);
  }
  const key = options.idempotencyKey;
  // A lone surrogate would reach PostgreSQL as U+FFFD, so two different keys could meet as one.
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 255 || textProblem(key) !== null)) {
    throw new InvalidOptionError('idempotencyKey', 'a non-empty string of at most 255 characters without NUL or lone surrogates', key);
  }
  if (options.runId !== undefined && !isId('run', options.runId)) {
    throw new InvalidOptionError('runId', 'a run id like "run_01J..."', options.runId);
  }
  const actor = options.actor ?? 'producer';
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > 200 || textProblem(actor) !== null) {
    throw new InvalidOptionError('actor', 'a non-empty string of at most 200 characters without NUL or lone surrogates', actor);
  }

  return {
    id: newId('job'),
    queue: type.queue,
    name: type.name,
    payload,
    priority: options.priority === undefined ? type.priority : validatePriority(options.priority),
    runId: options.runId ?? null,
    idempotencyKey: key ?? null,
    maxAttempts: options.maxAttempts === undefined ? type.maxAttempts : validateAttempts(options.maxAttempts, 'maxAttempts'),
    backoff: options.backoff === undefined ? type.backoff : validateBackoff(options.backoff),
    timeoutMs: options.timeoutMs === undefined ? type.timeoutMs : validateTimeout(options.timeoutMs),
    runAt: now + delayMs,
    createdAt: now,
    actor,
  };
}

/**
 * The payload as it will be stored: passed through the job type's schema, then checked as plain,
 * storable JSON within the size and depth caps, and copied (so that the caller changing its object
 * afterwards changes nothing). `null` is refused: the payload column holds a JSON document.
 */
function storablePayload(type: { name: string; schema: JobType['schema'] }, raw: unknown, limits: PayloadLimits): unknown {
  let parsed: ReturnType<JobType['schema']['safeParse']>;
  try {
    parsed = type.schema.safeParse(raw);
  } catch (error) {
    // A schema that recurses into a hostile value (nested thousands deep) overflows the stack, and
    // a refinement may throw: either way the payload was not accepted.
    throw new InvalidPayloadError(type.name, 'payload', `expected a value the job type's schema can check, got one that made it throw (${errorName(error)})`);
  }
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length ? issue.path.map(String).join('.') : 'payload';
    throw new InvalidPayloadError(type.name, field, `${issue?.message ?? 'invalid'} (got ${describeValue(valueAt(raw, issue?.path ?? []))})`);
  }
  if (parsed.data === null || parsed.data === undefined) {
    throw new InvalidPayloadError(type.name, 'payload', `expected a JSON value other than null (use {} for "no data"), got ${parsed.data === null ? 'null' : 'undefined'}`);
  }
  const stored = toStorableJson(parsed.data, { path: '', name: 'payload' }, {
    maxDepth: limits.maxJsonDepth ?? defaultMaxJsonDepth,
    maxBytes: limits.maxPayloadBytes,
  });
  if (!stored.ok) throw new InvalidPayloadError(type.name, stored.problem.path, `expected ${stored.problem.expected}, got ${stored.problem.got}`);
  return stored.value;
}

function errorName(error: unknown): string {
  try {
    return error instanceof Error ? String(error.name).slice(0, 60) : typeof error;
  } catch {
    return typeof error;
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  try {
    let v: unknown = root;
    for (const key of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<PropertyKey, unknown>)[key];
    }
    return v;
  } catch {
    return undefined; // a getter or proxy trap that throws
  }
}
