/**
 * Errors about what a caller gave: configuration, definitions, ids, payloads, options and
 * transitions asked for, and values that cannot be stored.
 */
import { JobLedgerError, describeValue } from './errors-base.js';

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
    super('JOBLEDGER_INVALID_ID', `expected ${/^[aeiou]/.test(kind) ? 'an' : 'a'} ${kind} id like "${kind}_01J...", got ${describeValue(got)}`);
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

/** A pipeline definition is malformed (unknown stage, transition to nowhere, missing budget). */
export class InvalidPipelineError extends JobLedgerError {
  constructor(pipeline: string, detail: string) {
    super('JOBLEDGER_INVALID_PIPELINE', `${pipeline}: ${detail}`);
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

/** A filter that had to match something (a replay's) matched no job: nothing was written. */
export class NothingMatchedError extends JobLedgerError {
  constructor(what: string, filter: unknown) {
    super('JOBLEDGER_NOTHING_MATCHED', `${what}: the filter matches no job (${describeValue(filter)}); nothing was written`);
  }
}

/** A method of a `JobLedger` was called after its `close()`: nothing was written or read. */
export class JobLedgerClosedError extends JobLedgerError {
  constructor(readonly action: string) {
    super('JOBLEDGER_CLOSED', `${action}: expected an open JobLedger, got one that close() has closed; open another with JobLedger.open()`);
  }
}
