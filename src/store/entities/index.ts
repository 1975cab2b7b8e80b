/** The ledger's entity schemas, for this package's ORM and for applications that add them to theirs. */
import { AttemptEntity } from './attempt.entity.js';
import { EventEntity } from './event.entity.js';
import { JobEntity } from './job.entity.js';
import { RunEntity } from './run.entity.js';
import { SnapshotEntity } from './snapshot.entity.js';
import { StateEntryEntity } from './state-entry.entity.js';
import { StateTransitionEntity } from './state-transition.entity.js';
import { PipelineEntity } from './pipeline.entity.js';
import { PipelineHistoryEntity } from './pipeline-history.entity.js';
import { MaintenanceRunEntity } from './maintenance-run.entity.js';
import { LedgerIdentityEntity } from './ledger-identity.entity.js';
import { ReplayEntity } from './replay.entity.js';
import { JobReplayEntity } from './job-replay.entity.js';
import { AuditEntity } from './audit.entity.js';

export { AttemptEntity, EventEntity, JobEntity, RunEntity };
export type { AttemptRow } from './attempt.entity.js';
export type { EventRow, SubjectType } from './event.entity.js';
export type { JobRow } from './job.entity.js';
export type { RunRow, RunStatus } from './run.entity.js';
export { StateEntryEntity, StateTransitionEntity, SnapshotEntity };
export type { StateEntryRow } from './state-entry.entity.js';
export type { StateChange, StateTransitionRow } from './state-transition.entity.js';
export type { SnapshotRow, SnapshotSubjectType } from './snapshot.entity.js';
export { PipelineEntity, PipelineHistoryEntity };
export type { PipelineRow, PipelineStatus, PipelineFeedback, StagePathEntry, StageOutcomeType } from './pipeline.entity.js';
export type { PipelineHistoryRow } from './pipeline-history.entity.js';
export { MaintenanceRunEntity };
export type { MaintenanceRunRow, MaintenanceRunStatus, MaintenanceTrigger } from './maintenance-run.entity.js';
export { LedgerIdentityEntity };
export type { LedgerIdentityRow } from './ledger-identity.entity.js';
export { ReplayEntity, JobReplayEntity };
export type { ReplayRow, ReplayStatus } from './replay.entity.js';
export type { JobReplayRow } from './job-replay.entity.js';
export { AuditEntity };
export type { AuditRow, AuditSource, AuditSubjectType } from './audit.entity.js';

export const ledgerEntities = [JobEntity, AttemptEntity, EventEntity, RunEntity, StateEntryEntity, StateTransitionEntity, SnapshotEntity, PipelineEntity, PipelineHistoryEntity, MaintenanceRunEntity, LedgerIdentityEntity, ReplayEntity, JobReplayEntity, AuditEntity];
