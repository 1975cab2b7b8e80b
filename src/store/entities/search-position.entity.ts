import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs } from './columns.js';

/**
 * How far the full-text search index has followed the event log (store/search/search-indexer.ts):
 * one row, `events`, holding the position of the last event it indexed. The documents an indexing
 * batch writes and this row's move commit together, so the index resumes where it stopped and
 * never takes an event twice. The documents themselves live in tables the dialects build
 * differently (an FTS5 virtual table, a tsvector column with a GIN index: migration SearchIndex),
 * which no entity describes; `searchIndexTables` names them.
 */
export interface SearchPositionRow {
  /** `events`: the log the index follows. */
  name: string;
  /** The event log's commit order key of the last event indexed (SQLite rowid, PostgreSQL transaction id); 0 before the first. */
  logOrder: number;
  /** That event's id ('' before the first): the tie-breaker within one PostgreSQL transaction. */
  eventId: string;
  /** Events indexed so far. */
  events: number;
  updatedAt: number;
}

export const SearchPositionEntity = new EntitySchema<SearchPositionRow>({
  name: 'SearchPositionRow',
  tableName: 'search_positions',
  properties: {
    name: { type: 'string', length: 40, primary: true },
    logOrder: { ...epochMs },
    eventId: { type: 'string', length: 40 },
    events: { ...epochMs },
    updatedAt: { ...epochMs },
  },
});
