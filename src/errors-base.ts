/**
 * The root of the coded error catalogue (errors.ts): every error jobledger raises on purpose is a
 * `JobLedgerError` with a stable `code`; and `describeValue`, the safe rendering messages use.
 */


export type ErrorCode =
  | 'JOBLEDGER_INVALID_CONFIG'
  | 'JOBLEDGER_UNKNOWN_JOB'
  | 'JOBLEDGER_INVALID_PAYLOAD'
  | 'JOBLEDGER_INVALID_OPTION'
  | 'JOBLEDGER_INVALID_ID'
  | 'JOBLEDGER_NOT_FOUND'
  | 'JOBLEDGER_ILLEGAL_TRANSITION'
  | 'JOBLEDGER_SCHEMA_OUTDATED'
  | 'JOBLEDGER_REDIS_UNAVAILABLE'
  | 'JOBLEDGER_UNSAFE_REDIS'
  | 'JOBLEDGER_DUPLICATE_DEFINITION'
  | 'JOBLEDGER_CONFIG_MODULE'
  | 'JOBLEDGER_VERSION_CONFLICT'
  | 'JOBLEDGER_CHECKSUM_MISMATCH'
  | 'JOBLEDGER_INVALID_PIPELINE'
  | 'JOBLEDGER_REDIS_AUTH_FAILED'
  | 'JOBLEDGER_DATABASE_UNAVAILABLE'
  | 'JOBLEDGER_COMMIT_OUTCOME_UNKNOWN'
  | 'JOBLEDGER_IDEMPOTENCY_UNRESOLVED'
  | 'JOBLEDGER_UNSTORABLE_VALUE'
  | 'JOBLEDGER_DATABASE_ERROR'
  | 'JOBLEDGER_THREAD_HANDLER'
  | 'JOBLEDGER_DATABASE_MISSING'
  | 'JOBLEDGER_BACKUP_INVALID'
  | 'JOBLEDGER_REDIS_PREFIX_TAKEN'
  | 'JOBLEDGER_NOTHING_MATCHED'
  | 'JOBLEDGER_REPLAY_FAILED'
  | 'JOBLEDGER_BUNDLE_INVALID'
  | 'JOBLEDGER_ARCHIVE_DAMAGED'
  | 'JOBLEDGER_CLOSED';

export class JobLedgerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A short, safe rendering of any value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n (a BigInt)`;
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // JSON would say null
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  try {
    const text = JSON.stringify(value) ?? (typeof value === 'symbol' ? value.toString() : `a ${typeof value}`);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return `an unreadable ${typeof value}`; // a revoked proxy
    }
  }
}
