/**
 * jobledger's public API. Named exports only; everything not listed here is internal.
 */
export { JobLedger, type JobLedgerOptions } from './jobledger.js';
export { loadConfig, parseDatabaseUrl, type Config, type DatabaseTarget } from './config.js';
export { createLogger, type Logger } from './logger.js';
export {
  JobLedgerError,
  InvalidConfigError,
  UnknownJobError,
  InvalidPayloadError,
  InvalidOptionError,
  InvalidIdError,
  NotFoundError,
  IllegalTransitionError,
  SchemaOutdatedError,
  RedisUnavailableError,
  RedisAuthError,
  UnsafeRedisError,
  DuplicateDefinitionError,
  ConfigModuleError,
  UnstorableValueError,
  DatabaseError,
  type ErrorCode,
} from './errors.js';
export { defineJob, type JobType, type JobTypeOptions, type JobContext, type JobHandler } from './jobs/define-job.js';
export { defineSchedule, type JobSchedule, type JobScheduleOptions } from './jobs/define-schedule.js';
// Handlers that run in a worker thread (defineJob's `threadHandler`).
export { ThreadHandlerError } from './errors.js';
export type { ThreadJobContext, ThreadJobHandler, ThreadLogger, ThreadLogFn } from './jobs/define-job.js';
export { JobRegistry } from './jobs/registry.js';
export { computeBackoffDelay, defaultBackoff, type BackoffPolicy } from './jobs/backoff.js';
export { Producer, type EnqueuedJob, type TransactionalEnqueuer } from './jobs/producer.js';
export { IdempotencyUnresolvedError } from './errors.js';
export type { EnqueueOptions, EnqueueRequest } from './jobs/validate-enqueue.js';
export type { OperatorActionInput } from './jobs/operator.js';
export type { ExportFilter, ExportOptions } from './jobs/job-export.js';
export { Replays, type ReplayRequest, type ReplayResult } from './jobs/replay.js';
export { verifyEvidenceBundle, type BundleManifest, type BundlePart } from './jobs/bundle/evidence-bundle.js';
export { BundleInvalidError } from './errors.js';
export { ArchiveSegmentDamagedError } from './errors.js';
export type { ColdArchive, RestoreSegmentInput, SegmentCheck } from './jobs/archive/cold-archive.js';
export type { ArchiveRunCounts, ArchiveRunOptions } from './jobs/archive/archive-run.js';
export type { ArchiveSegmentRow, ArchivePolicy, RestoredSegment } from './store/index.js';
export { NothingMatchedError, ReplayFailedError, JobLedgerClosedError } from './errors.js';
export type { JobLineage, JobReplayRow, ReplayRow, ReplayStatus } from './store/index.js';
// The ledger's read API (jl.ledger); its raw SQL and ORM handle are internal and not published.
export type { Ledger, OpenLedgerOptions } from './store/index.js';
export {
  ledgerEntities,
  JobEntity,
  AttemptEntity,
  EventEntity,
  RunEntity,
  type JobRow,
  type AttemptRow,
  type EventRow,
  type RunRow,
  type RunStatus,
  type SubjectType,
} from './store/index.js';
export { AuditEntity, type AuditFilter, type AuditRow, type AuditSource, type AuditSubjectType } from './store/index.js';
export { SearchPositionEntity, type SearchPositionRow } from './store/index.js';
export type { SearchField, SearchIndexOptions, SearchIndexResult, TextSearchFilter, TextSearchHit, TextSearchOptions, TextSearchResult } from './store/index.js';
// For an application whose own MikroORM shares the ledger's database (README, transactional enqueue).
export { ledgerTables } from './store/index.js';
export { sqliteMigrations } from '../migrations/sqlite/index.js';
export { postgresqlMigrations } from '../migrations/postgresql/index.js';
export { jobStatuses, attemptStatuses, jobTransitions, type JobStatus, type AttemptStatus, type EventType } from './store/index.js';
export type { JobDetail, JobFilter, JobKind, EventFilter } from './store/index.js';
export type { Outcome, SerializedError } from './store/index.js';
export { LedgerWorker, type LedgerWorkerOptions, type CloseOptions, type WorkerHealth, type QueueHealth } from './workers/ledger-worker.js';
export type { EventLoopStats } from './workers/event-loop-monitor.js';
export { PermanentJobError, classifyOutcome, type AttemptResult, type RetryPolicy } from './workers/classify-outcome.js';
export { installShutdownHandlers } from './workers/shutdown.js';
// Multi-stage pipelines.
export { InvalidPipelineError } from './errors.js';
export {
  definePipeline,
  stagePayloadSchema,
  type PipelineDefinition,
  type PipelineOptions,
  type PipelineEnd,
  type PipelineLoop,
  type StageChoice,
  type StageDefinition,
  type StagePayload,
  type StageTarget,
} from './jobs/define-pipeline.js';
export { Pipelines, type PipelineActionInput, type PipelineActionResult, type StartPipelineOptions, type StartedPipeline } from './jobs/pipelines.js';
export { archiveFinishedPipelines, type ArchivePipelinesOptions } from './store/index.js';
export type { PipelineSummary, PipelineDetail, PipelineStageDetail, PipelineFilter, PipelineHistoryFilter } from './store/index.js';
export {
  PipelineEntity,
  PipelineHistoryEntity,
  type PipelineRow,
  type PipelineHistoryRow,
  type PipelineStatus,
  type PipelineFeedback,
  type StagePathEntry,
  type StageOutcomeType,
} from './store/index.js';
// Keyed, versioned state and snapshots.
export { VersionConflictError, BatchVersionConflictError, ChecksumMismatchError, type VersionConflict } from './errors.js';
export { TieredStateStore, type PublishedHotStateStats, type StateHotSettings } from './hot-state/tiered-state-store.js';
export type { HotStateStats, TierFigures, TierName } from './hot-state/tier-stats.js';
export { StateStore, type StateSetItem, type StateDeleteItem, type SnapshotListFilter } from './store/index.js';
export type { StateRef, StateWriteOptions, SetStateOptions, ReadStateOptions } from './store/index.js';
export type { ListStateOptions, StateHistoryOptions } from './store/index.js';
export type { SnapshotOptions, RestoreOptions } from './store/index.js';
export { rotateSnapshots, type RotateSnapshotsOptions, type RotateSnapshotsResult } from './store/index.js';
export type { JobStateAccess, BufferedSetOptions, BufferedWriteOptions } from './jobs/job-state.js';
export {
  StateEntryEntity,
  StateTransitionEntity,
  SnapshotEntity,
  type StateEntryRow,
  type StateTransitionRow,
  type StateChange,
  type SnapshotRow,
  type SnapshotSubjectType,
} from './store/index.js';
// Scheduled maintenance.
export type { Maintenance, RunTaskOptions } from './workers/maintenance/maintenance.js';
export type { MaintenanceRunResult, MaintenanceTaskStatus, RunOutcome } from './workers/maintenance/runner.js';
export type { MaintenanceConfig, MaintenanceTaskName, MissedTickPolicy } from './config.js';
export { pruneByRetention, type PruneOptions, type PruneCounts, type RetentionPolicy } from './store/index.js';
export { MaintenanceRunEntity, type MaintenanceRunRow, type MaintenanceRunStatus, type MaintenanceTrigger } from './store/index.js';
// When the database connection ends (docs/database-outages.md).
export { DatabaseUnavailableError, DatabaseMissingError, DatabaseUnreachableError, CommitOutcomeUnknownError } from './errors.js';
export type { DatabaseHealth } from './workers/database-probe.js';
export { JobEvents, jobEventTypes, type JobEvent, type JobEventType, type JobEventListener } from './observability/job-events.js';
export { ObservabilityServer, type ObservabilityServerOptions } from './observability/http-server.js';
export type { Readiness, CheckResult, ConsumerProblem } from './observability/readiness.js';
export type { EventSubscription, EventLogHandler, SubscribeOptions } from './observability/event-subscription.js';
export { renderExposition, expositionContentType, type MetricFamily } from './observability/exposition.js';
