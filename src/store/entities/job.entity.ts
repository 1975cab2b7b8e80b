import { EntitySchema } from '../orm/mikro-orm.js';
import type { JobStatus } from '../lifecycle.js';
import { epochMs, json, optionalEpochMs, optionalJson } from './columns.js';

/** One row per job: its payload, its current state and one timestamp per milestone. */
export interface JobRow {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  status: JobStatus;
  statusReason: string | null;
  priority: number;
  runId: string | null;
  pipelineId: string | null;
  stage: string | null;
  idempotencyKey: string | null;
  maxAttempts: number;
  /** `{ type, delayMs, jitter, maxDelayMs }` as decided at enqueue. */
  backoff: unknown;
  timeoutMs: number | null;
  /** Attempts begun, ever (numbers the attempts). */
  attemptsStarted: number;
  /** Failed or timed-out attempts since the job was last (re)queued by an operator: the retry budget. */
  attemptsFailed: number;
  currentAttempt: number;
  progress: unknown;
  result: unknown;
  lastError: unknown;
  runAt: number;
  createdAt: number;
  dispatchedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  updatedAt: number;
  /** Bumped by every transition; it is also the job's event sequence number. */
  version: number;
  /**
   * The producer's W3C trace context (`{"traceparent":...,"tracestate":...}` as JSON text), which
   * every attempt's span continues; null when the producer had no tracing SDK or no active span.
   */
  traceContext: string | null;
}

export const JobEntity = new EntitySchema<JobRow>({
  name: 'JobRow',
  tableName: 'jobs',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    queue: { type: 'string', length: 200 },
    name: { type: 'string', length: 200 },
    payload: { ...json },
    status: { type: 'string', length: 20 },
    statusReason: { type: 'text', nullable: true },
    priority: { type: 'integer' },
    runId: { type: 'string', length: 40, nullable: true },
    pipelineId: { type: 'string', length: 40, nullable: true },
    stage: { type: 'string', length: 200, nullable: true },
    idempotencyKey: { type: 'string', length: 255, nullable: true },
    maxAttempts: { type: 'integer' },
    backoff: { ...optionalJson },
    timeoutMs: { type: 'integer', nullable: true },
    attemptsStarted: { type: 'integer' },
    attemptsFailed: { type: 'integer' },
    currentAttempt: { type: 'integer' },
    progress: { ...optionalJson },
    result: { ...optionalJson },
    lastError: { ...optionalJson },
    runAt: { ...epochMs },
    createdAt: { ...epochMs },
    dispatchedAt: { ...optionalEpochMs },
    startedAt: { ...optionalEpochMs },
    finishedAt: { ...optionalEpochMs },
    updatedAt: { ...epochMs },
    version: { type: 'integer' },
    traceContext: { type: 'text', nullable: true },
  },
  uniques: [{ name: 'jobs_queue_idempotency_key_unique', properties: ['queue', 'idempotencyKey'] }],
  // `status` is deliberately not indexed: it changes on every start and finish, and an index on it
  // costs an index write per change (on PostgreSQL it rules out HOT updates: migration
  // HotJobUpdates). Status filters are operator queries, served by the created_at index.
  indexes: [
    {
      name: 'jobs_undispatched_index',
      expression: 'create index "jobs_undispatched_index" on "jobs" ("created_at") where "dispatched_at" is null',
    },
    // Listings newest first, a keyset page at a time (migration ConsoleIndexes): each ends in
    // (created_at, id), the listing's order, and holds only columns a job's row never changes.
    { name: 'jobs_created_at_id_index', properties: ['createdAt', 'id'] },
    { name: 'jobs_name_created_at_id_index', properties: ['name', 'createdAt', 'id'] },
    { name: 'jobs_run_id_created_at_id_index', properties: ['runId', 'createdAt', 'id'] },
    { name: 'jobs_queue_created_at_id_index', properties: ['queue', 'createdAt', 'id'] },
  ],
});
