import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalEpochMs } from './columns.js';

/**
 * The cold archive's index: one row per archived job, naming the segment that holds its record,
 * with the job's fields that `show` and `export` filter on (so a filter finds archived jobs without
 * opening every segment). A job has a row here exactly when it is not in `jobs`: both change in one
 * transaction (store/archive/).
 */
export interface ArchivedJobRow {
  jobId: string;
  segmentId: string;
  queue: string;
  name: string;
  status: string;
  runId: string | null;
  pipelineId: string | null;
  createdAt: number;
  finishedAt: number | null;
}

export const ArchivedJobEntity = new EntitySchema<ArchivedJobRow>({
  name: 'ArchivedJobRow',
  tableName: 'archived_jobs',
  properties: {
    jobId: { type: 'string', length: 40, primary: true },
    segmentId: { type: 'string', length: 40 },
    queue: { type: 'string', length: 200 },
    name: { type: 'string', length: 200 },
    status: { type: 'string', length: 20 },
    runId: { type: 'string', length: 40, nullable: true },
    pipelineId: { type: 'string', length: 40, nullable: true },
    createdAt: { ...epochMs },
    finishedAt: { ...optionalEpochMs },
  },
  // A segment's jobs (restore, verify); archived jobs newest first, overall and by run (export).
  indexes: [
    { name: 'archived_jobs_segment_id_index', properties: ['segmentId'] },
    { name: 'archived_jobs_created_at_job_id_index', properties: ['createdAt', 'jobId'] },
    { name: 'archived_jobs_run_id_created_at_index', properties: ['runId', 'createdAt'] },
  ],
});
