import { EntitySchema } from '../orm/mikro-orm.js';

/**
 * Lineage of a replayed job: the new job, the original it was made from, and the replay that made
 * it. Kept beside `jobs` rather than in it, so the enqueue hot path writes no extra column.
 */
export interface JobReplayRow {
  /** The new job. */
  jobId: string;
  /** The original job whose payload it carries. */
  replayOf: string;
  replayId: string;
}

export const JobReplayEntity = new EntitySchema<JobReplayRow>({
  name: 'JobReplayRow',
  tableName: 'job_replays',
  properties: {
    jobId: { type: 'string', length: 40, primary: true },
    replayOf: { type: 'string', length: 40 },
    replayId: { type: 'string', length: 40 },
  },
  indexes: [
    { name: 'job_replays_replay_of_index', properties: ['replayOf'] },
    { name: 'job_replays_replay_id_index', properties: ['replayId'] },
  ],
});
