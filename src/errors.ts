/**
 * The coded error catalogue. Every error jobledger raises on purpose is a `JobLedgerError` with a
 * stable `code`; its message says what was expected, what came, and (where useful) what to do.
 * Unknown throws from below (drivers, Redis) are wrapped with the original kept as `cause`.
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
  | 'JOBLEDGER_THREAD_HANDLER';

export class JobLedgerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An environment variable or option of the configuration is missing, unknown or malformed. */
export class InvalidConfigError extends JobLedgerError {
  constructor(message: string) {
    super('JOBLEDGER_INVALID_CONFIG', message);
  }
}

/** Enqueue named a job type that no definition registers. */
export class UnknownJobError extends JobLedgerError {
  constructor(
    readonly jobName: string,
    known: readonly string[],
  ) {
    super(
      'JOBLEDGER_UNKNOWN_JOB',
      `no job type named ${JSON.stringify(jobName)}; expected one of: ${known.length ? known.join(', ') : '(none registered)'}`,
    );
  }
}

/** A payload failed its job type's schema, is not JSON-serialisable, or is too large. */
export class InvalidPayloadError extends JobLedgerError {
  constructor(
    readonly jobName: string,
    readonly field: string,
    detail: string,
  ) {
    super('JOBLEDGER_INVALID_PAYLOAD', `${jobName}.${field}: ${detail}`);
  }
}

/** An enqueue or operator option is out of range or of the wrong type. */
export class InvalidOptionError extends JobLedgerError {
  constructor(
    readonly option: string,
    expected: string,
    got: unknown,
  ) {
    super('JOBLEDGER_INVALID_OPTION', `${option}: expected ${expected}, got ${describeValue(got)}`);
  }
}

/** An id does not have the shape jobledger gives its ids (`job_<ulid>`, `run_<ulid>`, ...). */
export class InvalidIdError extends JobLedgerError {
  constructor(kind: string, got: unknown) {
    super('JOBLEDGER_INVALID_ID', `expected a ${kind} id like "${kind}_01J...", got ${describeValue(got)}`);
  }
}

/** A lookup found nothing. Never `undefined` passed along. */
export class NotFoundError extends JobLedgerError {
  constructor(
    readonly kind: string,
    readonly id: string,
  ) {
    super('JOBLEDGER_NOT_FOUND', `no ${kind} with id ${JSON.stringify(id)}`);
  }
}

/** A caller explicitly asked for a transition the job's current state does not allow. */
export class IllegalTransitionError extends JobLedgerError {
  constructor(
    readonly jobId: string,
    readonly from: string,
    readonly transition: string,
  ) {
    super('JOBLEDGER_ILLEGAL_TRANSITION', `job ${jobId} is ${from}; "${transition}" is not allowed from that state`);
  }
}

/** The database schema is older than this code expects. */
export class SchemaOutdatedError extends JobLedgerError {
  constructor(pending: readonly string[]) {
    super(
      'JOBLEDGER_SCHEMA_OUTDATED',
      `the ledger schema is missing ${pending.length} migration(s) (${pending.join(', ')}); run "jobledger migrate" or start with { migrate: true }`,
    );
  }
}

/** Redis could not be reached. */
export class RedisUnavailableError extends JobLedgerError {
  constructor(url: string, cause: unknown) {
    super(
      'JOBLEDGER_REDIS_UNAVAILABLE',
      `cannot reach Redis at ${url}; start one with "docker compose up -d redis" or a local "redis-server", or set REDIS_URL`,
      { cause },
    );
  }
}

/**
 * Redis is configured so that it may drop queued jobs on its own (`maxmemory-policy` other than
 * `noeviction`): a worker refuses to start on it unless told this is a development setup.
 */
export class UnsafeRedisError extends JobLedgerError {
  constructor(readonly maxmemoryPolicy: string) {
    super(
      'JOBLEDGER_UNSAFE_REDIS',
      `Redis maxmemory-policy is ${JSON.stringify(maxmemoryPolicy)}, expected "noeviction": under memory pressure Redis would ` +
        `evict queued jobs (the ledger keeps them, but they wait for the next reconcile). Set it with ` +
        `"redis-cli CONFIG SET maxmemory-policy noeviction" and "maxmemory-policy noeviction" in redis.conf; for development ` +
        `only, start anyway with allowEvictingRedis: true (jobledger worker --allow-evicting-redis, JOBLEDGER_ALLOW_EVICTING_REDIS=true)`,
    );
  }
}

/** Two job definitions share a name. */
export class DuplicateDefinitionError extends JobLedgerError {
  constructor(name: string) {
    super('JOBLEDGER_DUPLICATE_DEFINITION', `job type ${JSON.stringify(name)} is defined twice`);
  }
}

/** The user's configuration module could not be loaded or exports the wrong shape. */
export class ConfigModuleError extends JobLedgerError {
  constructor(path: string, detail: string, cause?: unknown) {
    super('JOBLEDGER_CONFIG_MODULE', `${path}: ${detail}`, { cause });
  }
}

/** A state write named an expected version that is no longer current (optimistic concurrency). */
export class VersionConflictError extends JobLedgerError {
  constructor(
    readonly subject: string,
    readonly expectedVersion: number,
    readonly actualVersion: number | null,
  ) {
    super(
      'JOBLEDGER_VERSION_CONFLICT',
      `${subject}: expected version ${expectedVersion}, but it is ${actualVersion === null ? 'absent' : `at version ${actualVersion}`}; re-read and retry`,
    );
  }
}

/** A snapshot's stored checksum does not match its data: it was altered or corrupted. */
export class ChecksumMismatchError extends JobLedgerError {
  constructor(snapshotId: string, expected: string, actual: string) {
    super('JOBLEDGER_CHECKSUM_MISMATCH', `snapshot ${snapshotId}: expected checksum ${expected}, got ${actual}; refusing to restore it`);
  }
}

/** A pipeline definition is malformed (unknown stage, transition to nowhere, missing budget). */
export class InvalidPipelineError extends JobLedgerError {
  constructor(pipeline: string, detail: string) {
    super('JOBLEDGER_INVALID_PIPELINE', `${pipeline}: ${detail}`);
  }
}

/**
 * A job type's thread handler (`defineJob`'s `threadHandler`) cannot run: its module is missing or
 * exports no handler function, its thread exited before the handler returned, or it was called on
 * the main thread.
 */
export class ThreadHandlerError extends JobLedgerError {
  constructor(
    readonly jobName: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('JOBLEDGER_THREAD_HANDLER', `${jobName}: ${detail}`, options);
  }
}

/** A short, safe rendering of any value for error messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n (a BigInt)`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  try {
    const text = JSON.stringify(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
