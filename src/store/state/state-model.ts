/**
 * Keyed state: the options callers pass, the buffered operations the writers apply, and the
 * validation that runs before anything is written. A state entry's subject id (in events and
 * snapshots) is `namespace/key`; a namespace holds no "/", so the first "/" splits it back.
 */
import type { AuditSource } from '../entities/index.js';
import { defaultMaxJsonDepth, textProblem, toStorableJson } from '../json-value.js';
import { InvalidOptionError } from '../../errors.js';

/** Names one state entry. */
export interface StateRef {
  /** 1-64 letters, digits, "_", "." or "-", starting with a letter or digit. */
  namespace: string;
  /** 1-128 characters, no control characters or lone surrogates; "/", "%" and "_" are fine. */
  key: string;
}

export interface StateWriteOptions {
  /**
   * Optimistic concurrency: the version the caller last saw. The write fails with a
   * `VersionConflictError` (and writes nothing) unless the entry is still at that version. `0` means
   * "must not exist" (absent, or soft-deleted). Default: unconditional (last writer wins).
   */
  expectedVersion?: number;
  /** Why, kept on the transition. Default none. At most 2000 characters. */
  reason?: string;
  /** Who, kept on the transition and the event. Default `"system"`. */
  actor?: string;
  /** Where the change came from, kept in its audit row: `cli`, `api` or `library`. Default `library`. */
  source?: AuditSource;
}

export interface SetStateOptions extends StateWriteOptions {
  /** The entry's status. Default: unchanged, or `"active"` for a new entry. */
  status?: string;
}

export interface ReadStateOptions {
  /** Also return soft-deleted entries. Default false. */
  includeDeleted?: boolean;
}

/** One change, as the writers apply it (validated, data copied). */
export type StateOp =
  | ({ op: 'set'; data: unknown; status?: string } & OpBase)
  | ({ op: 'status'; status: string } & OpBase)
  | ({ op: 'delete' } & OpBase)
  | ({ op: 'restore'; data: unknown; snapshotId: string } & OpBase);

interface OpBase extends StateRef {
  expectedVersion?: number;
  reason?: string;
}

/** Who made a batch of changes, and when. */
export interface StateWriteContext {
  actor: string;
  /** An operator's change (through the StateStore): each change gets an audit row from this source. */
  source?: AuditSource;
  /** The job whose completed attempt applies the changes, if any. */
  jobId?: string | null;
  now: number;
}

/** The default status of a new entry. */
export const defaultStateStatus = 'active';
/** Largest accepted `data`, as UTF-8 JSON. */
export const maxStateDataBytes = 1024 * 1024;

const namespacePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const statusPattern = /^[A-Za-z0-9_.:-]{1,50}$/;
const controlChars = /[\u0000-\u001f\u007f]/;

export function stateSubjectId(ref: StateRef): string {
  return `${ref.namespace}/${ref.key}`;
}

/** The reverse of `stateSubjectId`, or null for a subject id that is not a state entry's. */
export function parseStateSubjectId(subjectId: string): StateRef | null {
  const at = subjectId.indexOf('/');
  if (at <= 0) return null;
  const ref = { namespace: subjectId.slice(0, at), key: subjectId.slice(at + 1) };
  return namespacePattern.test(ref.namespace) && isKey(ref.key) ? ref : null;
}

export function validateNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || !namespacePattern.test(namespace)) {
    throw new InvalidOptionError('namespace', '1-64 letters, digits, "_", "." or "-", starting with a letter or digit', namespace);
  }
  return namespace;
}

export function validateRef(namespace: unknown, key: unknown): StateRef {
  validateNamespace(namespace);
  if (!isKey(key)) throw new InvalidOptionError('key', 'a string of 1-128 characters without control characters or lone surrogates', key);
  return { namespace: namespace as string, key };
}

export function validateStatus(status: unknown, option = 'status'): string {
  if (typeof status !== 'string' || !statusPattern.test(status)) {
    throw new InvalidOptionError(option, '1-50 letters, digits, "_", ".", ":" or "-"', status);
  }
  return status;
}

export function validateExpectedVersion(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new InvalidOptionError('expectedVersion', 'a whole number >= 0 (0: must not exist)', value);
  }
  return value;
}

export function validateReason(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length > 2000 || textProblem(value) !== null) {
    throw new InvalidOptionError('reason', 'a string of at most 2000 characters without NUL or lone surrogates', value);
  }
  return value;
}

export function validateActor(value: unknown, fallback = 'system'): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || value.length > 200 || textProblem(value) !== null) {
    throw new InvalidOptionError('actor', 'a non-empty string of at most 200 characters without NUL or lone surrogates', value);
  }
  return value;
}

/** The nesting cap state data is checked against (Config.maxJsonDepth); its size cap is `maxStateDataBytes`. */
export interface StateLimits {
  maxJsonDepth: number;
}

export const defaultStateLimits: StateLimits = Object.freeze({ maxJsonDepth: defaultMaxJsonDepth });

/**
 * Checks that `data` is storable JSON (json-value.ts: no BigInt, function, cycle, class instance,
 * non-finite number, NUL or lone surrogate, not nested too deep) under the size cap, and returns a
 * deep copy of it, so that a caller mutating its object afterwards cannot change what is written.
 */
export function copyStateData(data: unknown, option = 'data', limits: StateLimits = defaultStateLimits): unknown {
  const stored = toStorableJson(data, { path: option, name: option }, { maxDepth: limits.maxJsonDepth, maxBytes: maxStateDataBytes });
  if (!stored.ok) throw new InvalidOptionError(stored.problem.path, stored.problem.expected, stored.problem.got);
  return stored.value;
}

/** Validates one operation and copies its data: the form in which writers and buffers keep it. */
export function validateOp(op: StateOp, limits: StateLimits = defaultStateLimits): StateOp {
  const ref = validateRef(op.namespace, op.key);
  const expectedVersion = validateExpectedVersion(op.expectedVersion);
  const reason = validateReason(op.reason);
  const base = { ...ref, ...(expectedVersion !== undefined ? { expectedVersion } : {}), ...(reason !== undefined ? { reason } : {}) };
  switch (op.op) {
    case 'set':
      return { op: 'set', ...base, data: copyStateData(op.data, 'data', limits), ...(op.status !== undefined ? { status: validateStatus(op.status) } : {}) };
    case 'status':
      return { op: 'status', ...base, status: validateStatus(op.status) };
    case 'delete':
      return { op: 'delete', ...base };
    case 'restore':
      return { op: 'restore', ...base, data: copyStateData(op.data, 'data', limits), snapshotId: op.snapshotId };
    default:
      throw new InvalidOptionError('op', 'set, status, delete or restore', (op as { op?: unknown }).op);
  }
}

/**
 * A lone surrogate is refused: PostgreSQL receives it as U+FFFD, so `x\uD800` and `x\uDBFF` would
 * name one entry there and two on SQLite.
 */
function isKey(key: unknown): key is string {
  return typeof key === 'string' && key.length >= 1 && key.length <= 128 && !controlChars.test(key) && textProblem(key) === null;
}
