import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, json, optionalEpochMs } from './columns.js';

export type ReplayStatus = 'running' | 'completed' | 'cancelled' | 'failed';

/**
 * A named replay: new jobs made from the payloads of the jobs a filter matched (never an overwrite
 * of the originals), with who asked, why, the filter, and how far it got. Each new job's link to
 * its original is a `job_replays` row.
 */
export interface ReplayRow {
  /** `rpl_<ulid>`. */
  id: string;
  name: string;
  reason: string;
  actor: string;
  /** The filter as given (job id, or the listing filters), with the upper time bound the replay fixed. */
  filter: unknown;
  status: ReplayStatus;
  /** Why it ended cancelled or failed. */
  statusReason: string | null;
  /** Most jobs it may create (`--limit`); null: every match. */
  jobLimit: number | null;
  /** Originals read so far. */
  matched: number;
  /** New jobs committed so far. */
  created: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

export const ReplayEntity = new EntitySchema<ReplayRow>({
  name: 'ReplayRow',
  tableName: 'replays',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    name: { type: 'string', length: 200 },
    reason: { type: 'text' },
    actor: { type: 'string', length: 200 },
    filter: { ...json },
    status: { type: 'string', length: 20 },
    statusReason: { type: 'text', nullable: true },
    jobLimit: { type: 'integer', nullable: true },
    matched: { type: 'integer' },
    created: { type: 'integer' },
    createdAt: { ...epochMs },
    updatedAt: { ...epochMs },
    finishedAt: { ...optionalEpochMs },
  },
  indexes: [{ name: 'replays_created_at_index', properties: ['createdAt'] }],
});
