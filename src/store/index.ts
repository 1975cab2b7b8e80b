/**
 * The store's contract: everything outside src/store reaches the database through what is exported
 * here (the Ledger and the per-subject functions it runs), never through a store module directly.
 * Engines (store/engine) and the ORM setup (store/orm) stay private to the store.
 */
export type { AttemptRef, OutcomeHook, WorkerIdentity } from './attempts/attempt-writes.js';
export { countLostAttemptsInARow } from './attempts/lost-attempts.js';
export type { AttemptFailureStatus, Outcome, SerializedError } from './attempts/outcome.js';
export { isConnectionLoss, reconnectDelayMs } from './engine/connection-loss.js';
export { dialectOf } from './engine/sql.js';
export { commitBoundsSeconds, type GroupCommitStats } from './engine/group-commit.js';
export { AttemptEntity, EventEntity, JobEntity, MaintenanceRunEntity, PipelineEntity, PipelineHistoryEntity, RunEntity, SnapshotEntity, StateEntryEntity, StateTransitionEntity, ledgerEntities, type AttemptRow, type EventRow, type JobRow, type MaintenanceRunRow, type MaintenanceRunStatus, type MaintenanceTrigger, type PipelineFeedback, type PipelineHistoryRow, type PipelineRow, type PipelineStatus, type RunRow, type RunStatus, type SnapshotRow, type SnapshotSubjectType, type StageOutcomeType, type StagePathEntry, type StateChange, type StateEntryRow, type StateTransitionRow, type SubjectType } from './entities/index.js';
export { assertId, isId, newId } from './ids.js';
export { AuditEntity, type AuditRow, type AuditSource, type AuditSubjectType } from './entities/index.js';
export { auditSources, checkAuditContext, checkAuditSource, type AuditContext, type AuditEntry, type FieldChanges } from './audit/audit-writes.js';
export type { AuditFilter } from './audit/audit-queries.js';
export type { EventFilter, JobDetail, JobFilter, JobKind } from './jobs/job-queries.js';
export type { EventLogPosition, LoggedEvent } from './jobs/event-log.js';
export type { ActivityBucket } from './jobs/activity-buckets.js';
export type { StartedJob } from './jobs/job-rows.js';
export { insertJobs, type InsertedJob, type NewJob } from './jobs/job-writes.js';
export type { JobAwaitingType, JobOrigin, UnknownTypeHandBack } from './jobs/foreign-jobs.js';
export { redisActor, type PromotedJob, type RefusedRedisRetry } from './jobs/redis-actions.js';
export type { OperatorResult } from './jobs/operator-writes.js';
export { clipText, defaultMaxJsonBytes, defaultMaxJsonDepth, sameJsonValue, storableText, textProblem, toStorableJson, type JsonLimits } from './json-value.js';
export { Ledger, type OpenLedgerOptions } from './ledger.js';
export { readLedgerFigures, type JobGroupFigure, type LedgerFigures, type LedgerFiguresOptions } from './metrics.js';
export { attemptStatuses, jobStatuses, jobTransitions, type AttemptStatus, type EventType, type JobStatus } from './lifecycle.js';
export { abandonStaleRuns, claimTick, countMaintenanceRuns, finishRun, heartbeatRun, listMaintenanceRuns, recordMissedTicks, recordedTicks, scheduledTickRange, type MaintenanceCounts } from './maintenance/maintenance-runs.js';
export { pruneByRetention, type PruneCounts, type PruneOptions, type RetentionPolicy } from './maintenance/prune.js';
export { existingJobIds, findJobsExpectedInRedis, unchangedJobs, unfinishedQueues } from './maintenance/reconcile-queries.js';
export { sqliteUpkeep } from './maintenance/sqlite-upkeep.js';
export { backupSqlite, checkSqliteBackup, restoreSqlite, type BackupSummary } from './maintenance/sqlite-backup.js';
export { databaseNow, findStaleAttempts, recoverStaleAttempt, type StaleAttempt } from './maintenance/stale-attempts.js';
export { sqlFor } from './orm/em-sql.js';
export { ledgerTables } from './orm/ledger-tables.js';
export { archiveFinishedPipelines, type ArchivePipelinesOptions } from './pipelines/pipeline-archive.js';
export type { PipelineDetail, PipelineFilter, PipelineHistoryFilter, PipelineStageDetail, PipelineSummary } from './pipelines/pipeline-queries.js';
export { cancelPipeline, retryPipeline, type CancelledPipeline, type PipelineOperatorRequest, type RetriedPipeline, type RetryStageJob } from './pipelines/pipeline-operator-writes.js';
export { insertPipeline, lockPipeline, recordPipelineStep, type PipelineStep } from './pipelines/pipeline-writes.js';
export { existingRunIds, existingRunIdsIn, runStatuses } from './runs/runs.js';
export { snapshotChecksum } from './state/snapshots.js';
export { rotateSnapshots, type RotateSnapshotsOptions, type RotateSnapshotsResult } from './state/snapshot-rotation.js';
export type { RestoreOptions, SnapshotOptions } from './state/snapshots.js';
export { defaultStateLimits, parseStateSubjectId, validateOp, validateRef, type ReadStateOptions, type SetStateOptions, type StateLimits, type StateOp, type StateRef, type StateWriteOptions } from './state/state-model.js';
export type { ListStateOptions, StateHistoryOptions } from './state/state-queries.js';
export { StateStore, type SnapshotListFilter, type StateDeleteItem, type StateSetItem } from './state/state-store.js';
export { applyStateOps } from './state/state-outcome-writes.js';
export { ReplayStore } from './replays/replay-store.js';
export { ReplayStoppedError, replayStatuses, type JobLineage } from './replays/replays.js';
export { findReplays } from './replays/replay-lookup.js';
export { listSubjectAudit } from './audit/subject-audit.js';
export type { JobReplayRow, ReplayRow, ReplayStatus } from './entities/index.js';
export type { ArchiveSegmentRow, ArchiveSegmentStatus, ArchiveTargetKind, ArchivedJobRow } from './entities/index.js';
export { ArchiveMoveConflict, archiveGroups, commitSegment, countDue, dueJobRecords, indexRowOf, type ArchivePolicy } from './archive/archive-moves.js';
export { countSegmentJobs, findArchivedJobs, getSegment, knownSegmentIds, listArchivedJobs, listSegments, restoreSegmentRows, type ArchivedJobFilter, type RestoredSegment } from './archive/archive-index.js';
export * as pipelineQueries from './pipelines/pipeline-queries.js';
