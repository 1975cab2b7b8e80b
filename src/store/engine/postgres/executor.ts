/**
 * The PostgreSQL hot path: named statements with bound parameters on a small `pg.Pool` of its own,
 * opened from the database URL through pg's public API (`postgresExecutor` says why a pool of its
 * own). Batches of rows bind as arrays (`unnest`), so a statement's text does not depend on how
 * many rows it carries.
 */
import pg from 'pg';
import { retryTransient } from '../retry-transient.js';
import { postgresAutocommit, postgresTransaction, runStatementAlone, type PgClient, type PgSession } from './transaction.js';
import { settleCutCommit } from './cut-commit.js';
import { bindable, type FastExecutor } from '../executor.js';
import type { Sql } from '../sql.js';

/** Texts kept unnamed past the named-statement cap: IN-lists of many sizes would grow the map forever. */
const maxCachedTexts = 1500;

/**
 * Values as MikroORM's PostgreSQL connection reads them: date and time types stay text. The ledger
 * keeps times as epoch milliseconds, so this only keeps a stray timestamp the same on both paths.
 */
function ormCompatibleTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  for (const oid of [1082, 1114, 1184, 1186]) types.setTypeParser(oid, (text: string) => text);
  return types;
}

/**
 * PostgreSQL: pg clients used directly, from a small pool of the hot path's own, opened from the
 * same URL as the ORM's. knex's raw queries rewrite the SQL text and bindings on every call;
 * that was about a tenth of the worker's CPU on the PostgreSQL hot path.
 * The placeholders are rewritten once per SQL text, and every text is a named statement.
 *
 * The pool is the hot path's own because its connections run with sequential scans priced out
 * (`enable_seqscan = off`, set when each connects). The hot path reaches rows by key only, and
 * PostgreSQL plans a named statement once for all runs after its first five: a plan made while
 * `jobs` was small could be a sequential scan, kept as the table grows (measured: marking 500 jobs
 * dispatched took 86 ms instead of about 7 ms once the bench's table held 20,000 jobs). The setting
 * used to be `SET LOCAL` in each transaction, but a statement that commits alone (`autocommit`) has
 * no transaction to set it in, and on the ORM's own connections it would reach every other query.
 */
export function postgresExecutor(url: string, retryMs: number): FastExecutor {
  // A connect that hangs (a silent network) gives up after 10 s; keepalive finds dead sockets.
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    types: ormCompatibleTypes(),
    options: [new URL(url).searchParams.get('options'), '-c enable_seqscan=off'].filter(Boolean).join(' '),
    max: 4,
  });
  // An idle client whose connection dropped: the pool discards it and the next batch connects anew.
  pool.on('error', () => undefined);
  // pg-pool listens for errors only on idle clients. A client checked out whose connection ends
  // between two statements (a terminated backend, a restart) emits 'error' with nobody listening,
  // which would reach the process as an uncaught exception. The statement in flight, if any, gets
  // the error itself; the client is not queryable afterwards, and the pool drops it at release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const sqlOn = (client: PgClient): Sql => ({
    dialect: 'postgresql',
    bindsArrays: true,
    all: async (text, params = []) => (await client.query(preparedQuery(text, params))).rows,
    run: async (text, params = []) => (await client.query(preparedQuery(text, params))).rowCount ?? 0,
  });
  const session: PgSession = { pool, sqlOn, retryMs };
  const retrying = { databaseRetryMs: retryMs };
  const autocommit = <T>(work: (sql: Sql) => Promise<T>): Promise<T> => postgresAutocommit(session, work);
  return {
    transaction: (work) => retryTransient(() => postgresTransaction(session, work), retrying),
    autocommit,
    commitRows: async (batch) => {
      const statements = batch.statements({ dialect: 'postgresql', bindsArrays: true });
      if (statements.length !== 1) return false;
      const witness = batch.witness();
      // A deadlock or serialization victim wrote nothing (one statement), so it runs again as is;
      // so does one cut off before it landed (transaction.ts).
      await retryTransient(() => runStatementAlone(session, statements[0]!, witness), retrying);
      return true;
    },
    settleCommit: (input) => settleCutCommit(pool, { ...input, retryMs }),
    probe: async () => {
      const client = await pool.connect();
      try {
        await client.query('SELECT 1');
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
    },
    close: () => pool.end(),
  };
}

/** Per SQL text as written (`?` placeholders): the text PostgreSQL gets, and its statement name. */
const preparedTexts = new Map<string, { text: string; name?: string }>();
let namedStatements = 0;
/**
 * How many SQL texts become named (server-side prepared) statements. The hot path's texts are a
 * few dozen and do not depend on how many rows a batch holds (arrays through `unnest`); texts
 * beyond the cap (IN-lists of many sizes) stay unnamed rather than pile up in every backend.
 */
const maxNamedStatements = 200;

/**
 * A pg query config: named, so that each pooled connection parses and plans a text once and then
 * only binds and executes it. Measured with log_min_duration_statement, unnamed,
 * parse and bind (which plans) cost about 100-300 us each per statement of a batch, as much as
 * executing it. The same text always gets the same name, on every connection.
 */
function preparedQuery(text: string, params: readonly unknown[]): { name?: string; text: string; values: unknown[] } {
  let prepared = preparedTexts.get(text);
  if (!prepared) {
    const converted = positional(text);
    const named = namedStatements < maxNamedStatements && !selectsEveryColumn(converted) && !findsJobsByBoundId(converted);
    prepared = named ? { text: converted, name: `jobledger_${++namedStatements}` } : { text: converted };
    // Unnamed texts are not kept past the cap: IN-lists of many sizes would grow the map forever.
    if (named || preparedTexts.size < maxCachedTexts) preparedTexts.set(text, prepared);
  }
  return { name: prepared.name, text: prepared.text, values: params.map(bindable) };
}

/**
 * Whether a statement's result is "every column" (`SELECT *`, `RETURNING *`, `t.*`): such a result
 * grows with a migration, and a prepared statement must not change its result type, so it is not
 * named. Only a wildcard counts: a `*` that multiplies (the database clock's `* 1000`) or counts
 * (`count(*)`) keeps the statement named. (Unnamed, a statement is parsed and planned on every run:
 * the attempt start, whose first heartbeat is the database clock's `* 1000`, was, once per batch.)
 */
export function selectsEveryColumn(text: string): boolean {
  return /(?:\bSELECT|\bRETURNING|,|\.)\s*\*/i.test(text);
}

/**
 * Whether a statement finds `jobs` rows by an id bound as a parameter (`id = $n`, `id = ANY($n)`):
 * such a statement is not named, so PostgreSQL plans it at each run with the value in hand. Every
 * secondary index of `jobs` ends in `id` (for keyset pages), and a generic plan made while the
 * table was empty (after the five runs PostgreSQL plans each time) reads one of them, on
 * (queue, created_at, id), for the id, and is kept as the table grows: a scan of every job's entry
 * for each call (measured with the dispatched marks: 15,000 took 7 s, and the producers waiting on
 * them stalled). `enable_seqscan = off` does not prevent it. The hot path's batch statements join
 * their rows on `jobs.id` instead and keep their names (their plans use the primary key at any
 * size); what is planned at each run here is a progress update, a stalled job's failure, a mark of
 * many ids: a few hundred microseconds each, not per job of a batch.
 */
export function findsJobsByBoundId(text: string): boolean {
  return /\bjobs\b/i.test(text) && /(?<![\w.])(?:jobs\.)?id\s*=\s*(?:ANY\s*\(\s*)?\$\d/i.test(text);
}

/**
 * `?` placeholders as PostgreSQL's `$1, $2, ...`, skipping quoted literals and identifiers. The
 * ledger's SQL uses `?` only as a placeholder (no jsonb `?` operators), as it does through knex.
 */
export function positional(text: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

