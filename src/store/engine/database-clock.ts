/**
 * The database's clock, in epoch milliseconds like every timestamp column. Attempt heartbeats are
 * stamped with it and stale attempts are judged by it, so hosts whose clocks drift apart (workers,
 * reconcilers) all measure a heartbeat's age against one reference.
 */
import type { DatabaseDialect } from '../../config.js';

/**
 * An SQL expression for the database's current time in epoch milliseconds. PostgreSQL's
 * `clock_timestamp()` is the time the expression runs, not the start of its transaction (a group
 * commit's transaction may have begun earlier); SQLite's `'now'` is the same for a whole statement.
 */
export function databaseNowSql(dialect: DatabaseDialect): string {
  return dialect === 'sqlite'
    ? `CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)`
    : 'CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)';
}
