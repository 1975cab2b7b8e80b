/**
 * Reading the event log in commit order, for followers that resume from the last event they saw
 * (`JobLedger.subscribe`, `jobledger events --follow`).
 *
 * Event ids are ULIDs, ordered by the clock of the process that made them, not by commit: an event
 * made early in a long transaction (a transactional enqueue, say) commits after events with larger
 * ids, and a follower going by id would pass it for good. So each dialect reads in its own commit
 * order:
 * - SQLite has one writer at a time: a row's rowid is assigned inside the write transaction, so
 *   rowids grow in commit order.
 * - PostgreSQL: `tx_id` is the inserting transaction's id (the column's default, migration
 *   EventCommitOrder), and only events of transactions below the snapshot's xmin are read: every
 *   transaction with a smaller id has ended, so no event can still appear before the position. A
 *   transaction held open anywhere on the server delays what follows it; it never loses an event.
 */
import type { DatabaseDialect } from '../../config.js';
import type { EventRow } from '../entities/index.js';
import { placeholders, toNumber, type Sql } from '../engine/sql.js';
import { toEventRow } from './job-rows.js';

/** A place in the event log: the commit order key (SQLite rowid, PostgreSQL transaction id) and the event id. */
export interface EventLogPosition {
  order: number;
  id: string;
}

export interface LoggedEvent {
  event: EventRow;
  position: EventLogPosition;
}

/** Where the log ends now: a follower starting here gets only what commits from now on. */
export async function eventLogEnd(sql: Sql): Promise<EventLogPosition> {
  if (sql.dialect === 'sqlite') {
    const [row] = await sql.all('SELECT MAX(rowid) AS position FROM events');
    return { order: toNumber(row?.position ?? 0), id: '' };
  }
  // Every transaction below xmin has ended: its events are the past. Those of xmin and above are
  // still to come (or committed just now), and the follower gets them.
  const [row] = await sql.all('SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon');
  return { order: toNumber(row!.horizon), id: '' };
}

/** The position of event `id`, or undefined if the log holds no such event (never, or pruned). */
export async function eventLogPositionOf(sql: Sql, id: string): Promise<EventLogPosition | undefined> {
  const [row] = await sql.all(`SELECT ${orderColumn(sql.dialect)} AS position, id FROM events WHERE id = ?`, [id]);
  return row ? { order: toNumber(row.position), id } : undefined;
}

/** Up to `limit` events after `after`, in commit order; only the `types` given, if any. */
export async function readEventLog(sql: Sql, after: EventLogPosition, options: { types?: readonly string[]; limit: number }): Promise<LoggedEvent[]> {
  const types = options.types ?? [];
  const typeClause = types.length ? ` AND type IN (${placeholders(types.length)})` : '';
  const rows =
    sql.dialect === 'sqlite'
      ? await sql.all(`SELECT rowid AS position, * FROM events WHERE rowid > ?${typeClause} ORDER BY rowid LIMIT ?`, [after.order, ...types, options.limit])
      : await sql.all(
          `SELECT tx_id AS position, * FROM events
            WHERE tx_id IS NOT NULL AND (tx_id, id) > (?, ?) AND tx_id < pg_snapshot_xmin(pg_current_snapshot())::text::bigint${typeClause}
            ORDER BY tx_id, id LIMIT ?`,
          [after.order, after.id, ...types, options.limit],
        );
  return rows.map((r) => ({ event: toEventRow(sql.dialect, r), position: { order: toNumber(r.position), id: r.id as string } }));
}

function orderColumn(dialect: DatabaseDialect): string {
  return dialect === 'sqlite' ? 'rowid' : 'tx_id';
}
