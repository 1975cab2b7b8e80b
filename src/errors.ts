/**
 * The coded error catalogue. Every error jobledger raises on purpose is a `JobLedgerError` with a
 * stable `code`; its message says what was expected, what came, and (where useful) what to do.
 * Unknown throws from below (drivers, Redis) are wrapped with the original kept as `cause`.
 */
import { maskUrl } from './mask-url.js';

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
  | 'JOBLEDGER_ARCHIVE_DAMAGED';

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

/**
 * With a Redis Cluster (`JOBLEDGER_REDIS_CLUSTER_NODES`), the prefix lacks a hash tag: the keys of a
 * queue would scatter over hash slots and BullMQ's multi-key scripts would fail with CROSSSLOT.
 */
export class RedisClusterPrefixError extends InvalidConfigError {
  constructor(readonly prefix: string) {
    super(
      `JOBLEDGER_REDIS_PREFIX: with JOBLEDGER_REDIS_CLUSTER_NODES set, expected a prefix with a hash tag such as "{jobledger}" ` +
        `(every key of a prefix must live in one hash slot for BullMQ's multi-key scripts), got ${JSON.stringify(prefix)}; ` +
        `set JOBLEDGER_REDIS_PREFIX={${prefix.replace(/[{}]/g, '') || 'jobledger'}}`,
    );
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
    /** What the id names: a `job`, or a `pipeline` for a pipeline's cancel or retry. */
    readonly subject: 'job' | 'pipeline' = 'job',
  ) {
    super('JOBLEDGER_ILLEGAL_TRANSITION', `${subject} ${jobId} is ${from}; "${transition}" is not allowed from that state`);
  }
}

/** The database schema is older than this code expects. */
export class SchemaOutdatedError extends JobLedgerError {
  /** `tablesExist`: the ledger's tables are there, but jobledger_migrations records none of their migrations. */
  constructor(pending: readonly string[], options: { tablesExist?: boolean } = {}) {
    super(
      'JOBLEDGER_SCHEMA_OUTDATED',
      options.tablesExist
        ? `the ledger's tables exist, but jobledger_migrations records none of their migrations (another migrator, such as an application's MikroORM, applied them and recorded them in its own table); record them in jobledger_migrations as docs/transactional-enqueue.md says ("A database set up the other way"), then run "jobledger migrate"`
        : `the ledger schema is missing ${pending.length} migration(s) (${pending.join(', ')}); run "jobledger migrate" or start with { migrate: true }`,
    );
  }
}

/** Redis could not be reached. The URL is shown masked. */
export class RedisUnavailableError extends JobLedgerError {
  constructor(url: string, cause: unknown) {
    super(
      'JOBLEDGER_REDIS_UNAVAILABLE',
      `cannot reach Redis at ${maskUrl(url)}; start one with "docker compose up -d redis" or a local "redis-server", or set REDIS_URL`,
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

/** One key of a batch that is not at the version its item expected. */
export interface VersionConflict {
  /** `namespace/key`. */
  subject: string;
  expectedVersion: number;
  /** null: absent. */
  actualVersion: number | null;
}

/**
 * A batch (`setMany`, `deleteMany`) whose expected versions do not hold: every conflicting key is in
 * `conflicts`, and nothing of the batch was written. A `VersionConflictError` (same code), naming the
 * first conflict in its own fields.
 */
export class BatchVersionConflictError extends VersionConflictError {
  constructor(readonly conflicts: readonly VersionConflict[]) {
    const first = conflicts[0]!;
    super(first.subject, first.expectedVersion, first.actualVersion);
    const listed = conflicts
      .slice(0, 20)
      .map((c) => `${c.subject} expected ${c.expectedVersion}, is ${c.actualVersion === null ? 'absent' : c.actualVersion}`)
      .join('; ');
    this.message = `JOBLEDGER_VERSION_CONFLICT: ${conflicts.length} entr${conflicts.length === 1 ? 'y' : 'ies'} of the batch not at the expected version (${listed}${conflicts.length > 20 ? '; ...' : ''}); nothing was written; re-read and retry`;
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
 * Redis answered but refused the credentials of REDIS_URL (WRONGPASS, NOAUTH, an ACL user that is
 * disabled or may not run the command): starting a Redis will not help, the password or user will.
 */
export class RedisAuthError extends JobLedgerError {
  constructor(url: string, redisReply: string, cause?: unknown) {
    super(
      'JOBLEDGER_REDIS_AUTH_FAILED',
      `Redis at ${maskUrl(url)} refused the credentials (${redisReply.split('\n')[0]!.slice(0, 200)}); ` +
        `check the user and password in REDIS_URL (redis://user:password@host:port, or redis://:password@host:port without ACL users)`,
      { cause },
    );
  }
}

/**
 * The database could not be reached, or a connection ended under a statement, before anything it
 * was writing committed: nothing was written. Retryable: jobledger has already retried it for a
 * while (store/engine/connection-loss.ts); the database stayed unreachable.
 */
export class DatabaseUnavailableError extends JobLedgerError {
  /** Running the same call again is safe: nothing of it was written. */
  readonly retryable = true;

  constructor(what: string, cause: unknown) {
    super(
      'JOBLEDGER_DATABASE_UNAVAILABLE',
      `${what}: the database is unreachable or the connection ended (${describeCause(cause)}); nothing of this call ` +
        `was written: retry once the database answers`,
      { cause },
    );
  }
}

/**
 * The database `DATABASE_URL` names does not exist (a SQLite file, or a PostgreSQL database), and
 * the caller asked not to create it: only `jobledger migrate` (and `demo`, `worker --migrate`)
 * create a ledger, so that a typo in the URL never yields a new, empty one.
 */
export class DatabaseMissingError extends JobLedgerError {
  constructor(what: string) {
    super('JOBLEDGER_DATABASE_MISSING', `DATABASE_URL names ${what}, which does not exist; fix DATABASE_URL, or create the ledger there with "jobledger migrate"`);
  }
}

/** PostgreSQL does not answer at the host and port `DATABASE_URL` names (the CLI's one line for it). */
export class DatabaseUnreachableError extends JobLedgerError {
  readonly retryable = true;

  constructor(host: string, port: string, cause: unknown) {
    super(
      'JOBLEDGER_DATABASE_UNAVAILABLE',
      `cannot reach PostgreSQL at ${host}:${port} (from DATABASE_URL): ${describeCause(cause)}; start it, or fix DATABASE_URL`,
      { cause },
    );
  }
}

/**
 * A connection ended while a COMMIT (or a statement that commits by itself) was in flight, and the
 * ledger could not be read afterwards to tell whether it landed: the database stayed unreachable.
 * Not retried blindly, since running it again could apply it twice: read the ledger (the ids say
 * what to look for) once the database answers.
 */
export class CommitOutcomeUnknownError extends JobLedgerError {
  readonly retryable = false;

  constructor(
    what: string,
    /** Rows whose presence tells whether the write landed (job or attempt ids), when known. */
    readonly witnessIds: readonly string[],
    cause: unknown,
  ) {
    super(
      'JOBLEDGER_COMMIT_OUTCOME_UNKNOWN',
      `${what}: the connection ended while the commit was in flight and the database could not be read to tell whether it ` +
        `landed (${describeCause(cause)})` +
        (witnessIds.length ? `; look up ${witnessIds.slice(0, 3).join(', ')}${witnessIds.length > 3 ? ', ...' : ''} before retrying` : ''),
      { cause },
    );
  }
}

function describeCause(cause: unknown): string {
  const e = cause as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(cause);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code} ${message}` : message;
}

/**
 * An enqueue met a job holding its idempotency key again and again but could never read that job
 * back: it was deleted (by retention pruning, say) each time before it could be read. Nothing of
 * this call was written.
 */
export class IdempotencyUnresolvedError extends JobLedgerError {
  constructor(
    readonly queue: string,
    readonly idempotencyKey: string,
    tries: number,
  ) {
    super(
      'JOBLEDGER_IDEMPOTENCY_UNRESOLVED',
      `queue ${JSON.stringify(queue)}, idempotency key ${JSON.stringify(idempotencyKey)}: expected to insert a job or read back the ` +
        `one holding the key, but after ${tries} tries another job held it and was gone before it could be read; enqueue again`,
    );
  }
}

/**
 * A value a handler produced (its result, its progress) that the ledger cannot store as it is: not
 * plain JSON, a NUL or lone surrogate in a string, nested too deep, or too large. `got` is already a
 * description (never the value itself).
 */
export class UnstorableValueError extends JobLedgerError {
  constructor(
    readonly field: string,
    expected: string,
    got: string,
  ) {
    super('JOBLEDGER_UNSTORABLE_VALUE', `${field}: expected ${expected}, got ${got}`);
  }
}

/**
 * The database refused a statement. The message names the driver's error code and nothing of the
 * statement or its values (which may hold secrets); the driver's own error is the `cause`.
 */
export class DatabaseError extends JobLedgerError {
  constructor(
    /** The driver's code: a PostgreSQL SQLSTATE (`22P02`) or a SQLite code (`SQLITE_CONSTRAINT_NOTNULL`). */
    readonly driverCode: string,
    detail: string,
    cause: unknown,
  ) {
    super('JOBLEDGER_DATABASE_ERROR', detail, { cause });
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

/** A backup file is not a sound jobledger ledger: unreadable, damaged, or without the ledger's tables. */
export class BackupInvalidError extends JobLedgerError {
  constructor(path: string, reason: string) {
    super('JOBLEDGER_BACKUP_INVALID', `${path} is not a sound jobledger backup: ${reason}`);
  }
}

/** Who holds a Redis prefix: a ledger's identity and where its database is (masked). */
export interface PrefixOwner {
  ledger: string;
  database: string;
}

/**
 * The Redis prefix is claimed by another ledger: two ledgers on one prefix would each meet the
 * other's jobs, find no row for them and fail them, or run them twice.
 */
export class RedisPrefixTakenError extends JobLedgerError {
  constructor(
    readonly prefix: string,
    readonly ours: PrefixOwner,
    readonly holder: PrefixOwner,
    readonly key: string,
  ) {
    super(
      'JOBLEDGER_REDIS_PREFIX_TAKEN',
      `the Redis prefix ${JSON.stringify(prefix)} belongs to ledger ${holder.ledger} (database ${holder.database}); this is ledger ${ours.ledger} ` +
        `(database ${ours.database}). Give each ledger its own prefix: set JOBLEDGER_REDIS_PREFIX. If ledger ${holder.ledger} is gone for good, ` +
        `delete the Redis key ${JSON.stringify(key)} to free the prefix`,
    );
  }
}

/** A filter that had to match something (a replay's) matched no job: nothing was written. */
export class NothingMatchedError extends JobLedgerError {
  constructor(what: string, filter: unknown) {
    super('JOBLEDGER_NOTHING_MATCHED', `${what}: the filter matches no job (${describeValue(filter)}); nothing was written`);
  }
}

/**
 * A replay stopped on an error part way (a payload the job type's schema now refuses, a job type no
 * longer defined): the batches before it stand, the failing batch wrote nothing, and the replay is
 * recorded `failed` with this reason.
 */
export class ReplayFailedError extends JobLedgerError {
  constructor(
    readonly replayId: string,
    readonly created: number,
    cause: unknown,
  ) {
    super(
      'JOBLEDGER_REPLAY_FAILED',
      `replay ${replayId} stopped after ${created} new job${created === 1 ? '' : 's'}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/** An evidence bundle fails its check: unreadable, not a bundle, or a part whose checksum or counts differ from its manifest. */
export class BundleInvalidError extends JobLedgerError {
  constructor(path: string, reason: string) {
    super('JOBLEDGER_BUNDLE_INVALID', `${path} does not verify: ${reason}`);
  }
}

/**
 * A cold archive segment cannot be read as its index says: missing, a SHA-256 other than the one
 * recorded when it was written, or contents that differ from its counts. Nothing of it was used.
 */
export class ArchiveSegmentDamagedError extends JobLedgerError {
  constructor(
    readonly segmentId: string,
    location: string,
    reason: string,
  ) {
    super('JOBLEDGER_ARCHIVE_DAMAGED', `archive segment ${segmentId} (${location}) is damaged: ${reason}; nothing of it was read`);
  }
}
