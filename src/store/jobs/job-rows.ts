/** Maps raw snake_case rows from plain statements onto the ledger's row types. */
import type { DatabaseDialect } from '../../config.js';
import { JobEntity, type AttemptRow, type EventRow, type JobRow } from '../entities/index.js';
import { allPropertiesOf, entityColumns } from '../engine/entity-columns.js';
import type { AttemptStatus, JobStatus } from '../lifecycle.js';
import { decodeJson, toNullableNumber, toNumber, type Row } from '../engine/sql.js';

/**
 * `properties`' columns as a SELECT or RETURNING list, qualified by `jobs.` unless `qualified` is
 * false (to select them again from a CTE that returned them). Listed rather than `jobs.*`: a named
 * (prepared) statement whose `*` grows a column after a migration fails on PostgreSQL with "cached
 * plan must not change result type".
 */
function jobColumnList(properties: readonly (keyof JobRow)[], qualified = true): string {
  return entityColumns(JobEntity, [...properties])
    .map((c) => (qualified ? `jobs.${c.name}` : c.name))
    .join(', ');
}

/** The columns `toJobRow` reads, for statements that return whole job rows. */
export const jobRowColumns = jobColumnList(allPropertiesOf(JobEntity));
export const jobRowColumnNames = jobColumnList(allPropertiesOf(JobEntity), false);

const startedJobProperties = [
  'id', 'queue', 'name', 'payload', 'status', 'runId', 'pipelineId', 'stage', 'maxAttempts', 'backoff', 'timeoutMs',
  'attemptsFailed', 'currentAttempt', 'version', 'traceContext', 'runAt',
] as const satisfies readonly (keyof JobRow)[];

/**
 * What an attempt's start returns of its job: what the worker runs it with (name, payload, timeout,
 * retry policy, the producer's trace context) and what the start itself writes from (attempt
 * number, version). Not the whole row:
 * on SQLite, returning and converting all 27 columns for every started job cost the ledger-only
 * loop about 5 µs a job more (53 against 48 µs, three runs each).
 */
export type StartedJob = Pick<JobRow, (typeof startedJobProperties)[number]>;

/** The columns `toStartedJob` reads. */
export const startedJobColumns = jobColumnList(startedJobProperties);
export const startedJobColumnNames = jobColumnList(startedJobProperties, false);

/** The `StartedJob` fields of a whole row. */
export function startedJobOf(job: JobRow): StartedJob {
  return Object.fromEntries(startedJobProperties.map((property) => [property, job[property]])) as StartedJob;
}

export function toStartedJob(dialect: DatabaseDialect, r: Row): StartedJob {
  return {
    id: r.id as string,
    queue: r.queue as string,
    name: r.name as string,
    payload: decodeJson(dialect, r.payload),
    status: r.status as JobStatus,
    runId: (r.run_id as string | null) ?? null,
    pipelineId: (r.pipeline_id as string | null) ?? null,
    stage: (r.stage as string | null) ?? null,
    maxAttempts: toNumber(r.max_attempts),
    backoff: decodeJson(dialect, r.backoff),
    timeoutMs: toNullableNumber(r.timeout_ms),
    attemptsFailed: toNumber(r.attempts_failed),
    currentAttempt: toNumber(r.current_attempt),
    version: toNumber(r.version),
    traceContext: (r.trace_context as string | null) ?? null,
    runAt: toNumber(r.run_at),
  };
}

/** A whole job row: the started job's fields and the rest. */
export function toJobRow(dialect: DatabaseDialect, r: Row): JobRow {
  return {
    ...toStartedJob(dialect, r),
    statusReason: (r.status_reason as string | null) ?? null,
    priority: toNumber(r.priority),
    idempotencyKey: (r.idempotency_key as string | null) ?? null,
    attemptsStarted: toNumber(r.attempts_started),
    progress: decodeJson(dialect, r.progress),
    result: decodeJson(dialect, r.result),
    lastError: decodeJson(dialect, r.last_error),
    runAt: toNumber(r.run_at),
    createdAt: toNumber(r.created_at),
    dispatchedAt: toNullableNumber(r.dispatched_at),
    startedAt: toNullableNumber(r.started_at),
    finishedAt: toNullableNumber(r.finished_at),
    updatedAt: toNumber(r.updated_at),
  };
}

export function toAttemptRow(dialect: DatabaseDialect, r: Row): AttemptRow {
  return {
    id: r.id as string,
    jobId: r.job_id as string,
    number: toNumber(r.number),
    status: r.status as AttemptStatus,
    workerId: r.worker_id as string,
    host: r.host as string,
    pid: toNumber(r.pid),
    startedAt: toNumber(r.started_at),
    heartbeatAt: toNumber(r.heartbeat_at),
    finishedAt: toNullableNumber(r.finished_at),
    durationMs: toNullableNumber(r.duration_ms),
    error: decodeJson(dialect, r.error),
  };
}

export function toEventRow(dialect: DatabaseDialect, r: Row): EventRow {
  return {
    id: r.id as string,
    subjectType: r.subject_type as EventRow['subjectType'],
    subjectId: r.subject_id as string,
    seq: toNumber(r.seq),
    type: r.type as string,
    payload: decodeJson(dialect, r.payload),
    actor: r.actor as string,
    createdAt: toNumber(r.created_at),
  };
}
