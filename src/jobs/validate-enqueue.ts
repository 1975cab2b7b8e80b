/**
 * Turns an enqueue request into a validated ledger row, or throws a typed error naming the field,
 * what was expected and what came. Nothing is written before every item of a request has passed.
 */
import { InvalidOptionError, InvalidPayloadError } from '../errors.js';
import { isId, newId } from '../store/ids.js';
import { findJsonProblem } from '../store/json-value.js';
import type { NewJob } from '../store/job-writes.js';
import { validateBackoff, type BackoffPolicy } from './backoff.js';
import { validateAttempts, validatePriority, validateTimeout } from './define-job.js';
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

export function validateEnqueue(
  registry: JobRegistry,
  request: EnqueueRequest,
  limits: { maxPayloadBytes: number },
  now: number,
): NewJob {
  const type = registry.get(request.name);
  const options = request.options ?? {};
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('options', 'an object', options);
  for (const key of Object.keys(options)) {
    if (!knownOptions.has(key)) throw new InvalidOptionError(key, `one of the enqueue options (${[...knownOptions].join(', ')})`, key);
  }

  const parsed = type.schema.safeParse(request.payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length ? issue.path.map(String).join('.') : 'payload';
    throw new InvalidPayloadError(type.name, field, `${issue?.message ?? 'invalid'} (got ${describe(valueAt(request.payload, issue?.path ?? []))})`);
  }
  assertJsonSerialisable(type.name, parsed.data);
  const bytes = Buffer.byteLength(JSON.stringify(parsed.data) ?? 'null', 'utf8');
  if (bytes > limits.maxPayloadBytes) {
    throw new InvalidPayloadError(type.name, 'payload', `expected at most ${limits.maxPayloadBytes} bytes of JSON, got ${bytes}`);
  }

  const delayMs = options.delayMs ?? 0;
  if (typeof delayMs !== 'number' || !Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new InvalidOptionError('delayMs', 'a whole number of milliseconds >= 0', delayMs);
  }
  const key = options.idempotencyKey;
  if (key !== undefined && (typeof key !== 'string' || key.length === 0 || key.length > 255 || key.includes('\u0000'))) {
    throw new InvalidOptionError('idempotencyKey', 'a non-empty string of at most 255 characters without NUL', key);
  }
  if (options.runId !== undefined && !isId('run', options.runId)) {
    throw new InvalidOptionError('runId', 'a run id like "run_01J..."', options.runId);
  }
  const actor = options.actor ?? 'producer';
  if (typeof actor !== 'string' || actor.length === 0 || actor.length > 200) throw new InvalidOptionError('actor', 'a non-empty string', actor);

  return {
    id: newId('job'),
    queue: type.queue,
    name: type.name,
    payload: parsed.data,
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

function assertJsonSerialisable(jobName: string, value: unknown): void {
  const problem = findJsonProblem(value, { path: '', name: 'payload' });
  if (problem) throw new InvalidPayloadError(jobName, problem.path, `expected ${problem.expected}, got ${problem.got}`);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = root;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  try {
    const text = JSON.stringify(value) ?? `a ${typeof value}`;
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return 'an unserialisable value';
  }
}
