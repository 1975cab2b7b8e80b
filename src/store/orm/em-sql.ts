/**
 * `Sql` over a MikroORM EntityManager: the ledger's statements off the hot path that do not go
 * through the unit of work (job reads, operator actions, state, the event log, aggregates) and
 * transactional enqueue through a caller's EntityManager, on the EntityManager's own connection and
 * inside its transaction when it is in one.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { Knex, SqlEntityManager } from '@mikro-orm/knex';
import { wrapDatabaseError } from '../engine/database-errors.js';
import { dialectOf, toNumber, type Row, type Sql } from '../engine/sql.js';

/**
 * Statements through `em`'s connection, inside its current transaction if it is in one, with every
 * value bound as a parameter. Not through `em.execute`: MikroORM 6 inlines parameters into the SQL
 * text (`platform.formatQuery`), escaped rather than bound, and a JavaScript array became a list
 * (`name = 'a', 'b'`). knex's raw query on the same connection binds them (`$1` on PostgreSQL, `?`
 * on SQLite). A driver error comes back as a coded `DatabaseError` (database-errors.ts).
 */
export function sqlFor(em: EntityManager): Sql {
  const sqlEm = em as SqlEntityManager;
  const dialect = dialectOf(em);
  const execute = async (written: string, values: readonly unknown[]): Promise<unknown> => {
    const { text, params } = rowCountsAsLiterals(written, values);
    const query = sqlEm.getKnex().raw(text, params.map(boundValue));
    const transaction = em.getTransactionContext<Knex.Transaction>();
    if (transaction) void query.transacting(transaction);
    try {
      return (await query) as unknown;
    } catch (error) {
      throw wrapDatabaseError(error, dialect, text);
    }
  };
  return {
    dialect,
    all: async (text, params = []) => rowsOf(await execute(text, params)),
    run: async (text, params = []) => changesOf(await execute(text, params)),
  };
}

/**
 * `LIMIT ?` and `OFFSET ?` whose parameter is a whole number >= 0, written as that number. The one
 * exception to binding, and it can only ever write digits: SQLite plans a bound LIMIT as unknown
 * (large), and then prefers walking an index in ORDER BY order to searching the index its WHERE
 * clause could use (the stale-attempt scan walked every attempt; a test checks that plan). These
 * statements used to reach SQLite with literal values, planned as they are here.
 */
export function rowCountsAsLiterals(text: string, values: readonly unknown[]): { text: string; params: unknown[] } {
  if (!/\b(?:LIMIT|OFFSET)\s+\?/i.test(text)) return { text, params: [...values] };
  let out = '';
  let next = 0;
  const params: unknown[] = [];
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
    } else if (ch === '?') {
      const value = values[next++];
      if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && /\b(?:LIMIT|OFFSET)\s+$/i.test(out.slice(-16))) {
        out += String(value);
        continue;
      }
      params.push(value);
    }
    out += ch;
  }
  params.push(...values.slice(next)); // a count that does not match stays for knex to report
  return { text: out, params };
}

/**
 * A parameter as the drivers bind it: `undefined` as NULL (knex refuses undefined). Only scalars:
 * an array or object would be expanded or encoded by the driver, never what a statement means.
 */
function boundValue(value: unknown): Knex.Value {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || Buffer.isBuffer(value)) return value;
  throw new TypeError(`a ledger statement parameter must be a string, number, boolean or null, got ${Array.isArray(value) ? 'an array' : typeof value}`);
}

/** Rows of a raw result: pg's `{ rows }`, or better-sqlite3's array (a statement that returns rows). */
function rowsOf(result: unknown): Row[] {
  if (Array.isArray(result)) return result as Row[];
  const rows = (result as { rows?: unknown } | null)?.rows;
  return Array.isArray(rows) ? (rows as Row[]) : [];
}

/** Rows changed: pg's `rowCount`, better-sqlite3's `changes`, or the rows a RETURNING gave back. */
function changesOf(result: unknown): number {
  if (Array.isArray(result)) return result.length;
  const r = result as { rowCount?: unknown; changes?: unknown } | null;
  return toNumber(r?.rowCount ?? r?.changes ?? 0);
}
