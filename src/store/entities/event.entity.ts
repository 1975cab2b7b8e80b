import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalEpochMs, optionalJson } from './columns.js';

/** What an event is about. */
export type SubjectType = 'job' | 'run' | 'pipeline' | 'state' | 'operator' | 'replay';

/** The append-only log: one row per lifecycle change, written in the transaction of the change. */
export interface EventRow {
  id: string;
  subjectType: SubjectType;
  subjectId: string;
  /** Per-subject sequence number, unique with the subject: gaps or duplicates would show. */
  seq: number;
  type: string;
  payload: unknown;
  actor: string;
  createdAt: number;
  /**
   * @internal PostgreSQL: the id of the transaction that inserted the event, set by the column's
   * default (the event log's commit order, event-log.ts). Never written by jobledger; null on SQLite.
   */
  txId?: number | null;
}

export const EventEntity = new EntitySchema<EventRow>({
  name: 'EventRow',
  tableName: 'events',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    subjectType: { type: 'string', length: 20 },
    subjectId: { type: 'string', length: 200 },
    seq: { type: 'integer' },
    type: { type: 'string', length: 100 },
    payload: { ...optionalJson },
    actor: { type: 'string', length: 200 },
    createdAt: { ...epochMs },
    // The default differs by dialect (migration EventCommitOrder): PostgreSQL's sets it, SQLite has none.
    txId: { ...optionalEpochMs, ignoreSchemaChanges: ['default'] },
  },
  uniques: [{ name: 'events_subject_seq_unique', properties: ['subjectType', 'subjectId', 'seq'] }],
  // By type, only the events that not every job has (migration RareEventTypes): the three every job
  // writes were most of a full type index's entries and a measurable share of the worker's CPU.
  indexes: [
    {
      name: 'events_rare_type_created_at_index',
      expression: `create index "events_rare_type_created_at_index" on "events" ("type", "created_at") where "type" not in ('job.enqueued', 'job.started', 'job.completed')`,
    },
    { name: 'events_created_at_index', properties: ['createdAt'] },
    // The event log's commit order on PostgreSQL; on SQLite the column stays null, the index empty.
    {
      name: 'events_tx_id_id_index',
      expression: 'create index "events_tx_id_id_index" on "events" ("tx_id", "id") where "tx_id" is not null',
    },
  ],
});
