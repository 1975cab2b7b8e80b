/**
 * Errors of the ledger's database: its schema, its reachability, commits whose outcome is unknown,
 * optimistic version conflicts and wrapped driver errors.
 */
import { JobLedgerError } from './errors-base.js';

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
