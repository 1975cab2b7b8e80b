/**
 * The hot path's deferred rows: attempt and event inserts, and updates by id, held during a batch's
 * transaction and written as one multi-row statement per table (on PostgreSQL, all in one). Used by
 * the executors (sqlite/executor.ts, postgres/executor.ts) around each transaction's work, and by PostgreSQL's `writeAlone`,
 * which runs such a statement outside a transaction (`writtenAsOneStatement`).
 */
import {
  combineStatements,
  insertFromRows,
  insertRowsNow,
  updateFromRows,
  updateRowsNow,
  usesArrays,
  type Column,
  type Row,
  type RowUpdate,
  type Sql,
  type Statement,
} from './sql.js';
import type { Witness } from './postgres/cut-commit.js';

interface HeldInsert {
  table: string;
  columns: readonly Column[];
  rows: (readonly unknown[])[];
}

interface HeldUpdate {
  update: RowUpdate;
  rows: (readonly unknown[])[];
}

/**
 * A transaction's Sql that holds `insertRows` (attempt and event rows) and `updateRows`, and writes
 * them as one multi-row statement per table: before any other statement that names that table, and
 * before the commit. On the PostgreSQL hot path all of them go as one statement: three round trips
 * per job become one per batch.
 */
class DeferringSql implements Sql {
  private readonly held = new Map<string, HeldInsert>();
  private readonly heldUpdates = new Map<RowUpdate, { table: string; rows: (readonly unknown[])[] }>();
  /** The first row written from `insertRows`, by id: what tells a cut-off COMMIT landed (cut-commit.ts). */
  witness: Witness | undefined;

  constructor(private readonly direct: Sql) {}

  get dialect(): Sql['dialect'] {
    return this.direct.dialect;
  }

  get bindsArrays(): boolean {
    return this.direct.bindsArrays === true;
  }

  async all(text: string, params?: readonly unknown[]): Promise<Row[]> {
    await this.flushFor(text);
    return this.direct.all(text, params);
  }

  async run(text: string, params?: readonly unknown[]): Promise<number> {
    await this.flushFor(text);
    return this.direct.run(text, params);
  }

  insertRows(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Promise<void> {
    const key = heldKey(table, columns);
    const entry = this.held.get(key) ?? { table, columns, rows: [] };
    entry.rows.push(...rows);
    this.held.set(key, entry);
    return Promise.resolve();
  }

  updateRows(update: RowUpdate, rows: readonly (readonly unknown[])[]): Promise<void> {
    const entry = this.heldUpdates.get(update) ?? { table: update.table, rows: [] };
    entry.rows.push(...rows);
    this.heldUpdates.set(update, entry);
    return Promise.resolve();
  }

  /** Writes every held row now: inserts first, then updates (an update may target an inserted row). */
  async flush(): Promise<void> {
    const { inserts, updates } = this.heldWrites();
    this.held.clear();
    this.heldUpdates.clear();
    if (inserts.length + updates.length === 0) return;
    this.witness ??= witnessOf(inserts);
    const statement = asOneStatement(this.direct, inserts, updates);
    if (statement) {
      // One round trip for all of them: on this 2-core machine a statement's round trip (the write
      // that wakes the backend) was a third of the worker's CPU in the PostgreSQL bench profile.
      await this.direct.run(statement.text, statement.params);
      return;
    }
    for (const entry of inserts) await insertRowsNow(this.direct, entry.table, entry.columns, entry.rows);
    for (const entry of updates) await updateRowsNow(this.direct, entry.update, entry.rows);
  }

  /** Everything held, as the one statement `flush` would run; undefined when the rows cannot share one. */
  heldAsOneStatement(): { statement: Statement; witness: Witness | undefined } | undefined {
    const { inserts, updates } = this.heldWrites();
    const statement = asOneStatement(this.direct, inserts, updates);
    return statement ? { statement, witness: witnessOf(inserts) } : undefined;
  }

  private heldWrites(): { inserts: HeldInsert[]; updates: HeldUpdate[] } {
    return {
      inserts: [...this.held.values()],
      updates: [...this.heldUpdates].map(([update, entry]) => ({ update, rows: entry.rows })),
    };
  }

  /** Writes the held rows of any table `text` names, so the statement sees them. */
  private async flushFor(text: string): Promise<void> {
    if (this.held.size + this.heldUpdates.size === 0) return;
    for (const entry of this.held.values()) if (names(text, entry.table)) return this.flush();
    for (const entry of this.heldUpdates.values()) if (names(text, entry.table)) return this.flush();
  }
}

/**
 * The key under which rows for `table` with these columns are held, remembered per columns array
 * (the callers pass module constants): built afresh, it was a map, a join and two strings for every
 * attempt and event row of the hot path.
 */
function heldKey(table: string, columns: readonly Column[]): string {
  let byTable = heldKeys.get(columns);
  if (!byTable) heldKeys.set(columns, (byTable = new Map<string, string>()));
  let key = byTable.get(table);
  if (key === undefined) byTable.set(table, (key = `${table}(${columns.map((c) => c.name).join(',')})`));
  return key;
}

const heldKeys = new WeakMap<readonly Column[], Map<string, string>>();

/** The first held row of a table whose first column is its id (jobs, attempts, events all are). */
function witnessOf(inserts: readonly HeldInsert[]): Witness | undefined {
  for (const entry of inserts) {
    const id = entry.rows[0]?.[0];
    if (entry.columns[0]?.name === 'id' && typeof id === 'string') return { table: entry.table, id };
  }
  return undefined;
}

/**
 * Whether SQL `text` names `table`, remembered per text: the hot path runs the same few dozen texts
 * for every batch, and a RegExp made and tested per table per transaction cost about 1% of the
 * SQLite worker's CPU in the bench profile. Past the cap (texts with IN-lists of many sizes), the
 * cache starts again.
 */
function names(text: string, table: string): boolean {
  let tables = tablesNamed.get(text);
  if (!tables) {
    if (tablesNamed.size >= maxRememberedTexts) tablesNamed.clear();
    tables = new Map();
    tablesNamed.set(text, tables);
  }
  let named = tables.get(table);
  if (named === undefined) {
    named = new RegExp(`\\b${table}\\b`, 'i').test(text);
    tables.set(table, named);
  }
  return named;
}

const tablesNamed = new Map<string, Map<string, boolean>>();

/** As many texts as the executors keep prepared statements for: the same texts pass through both. */
const maxRememberedTexts = 1500;

/**
 * Whether held inserts and updates may go as one statement: the parts of one statement do not see
 * each other's rows, so no update may target a row inserted in the same flush (by id, the first
 * column of both). The hot path's updates finish attempts begun in earlier transactions.
 */
function independent(inserts: readonly HeldInsert[], updates: readonly HeldUpdate[]): boolean {
  for (const { update, rows } of updates) {
    const inserted = new Set(inserts.filter((i) => i.table === update.table).flatMap((i) => i.rows.map((r) => r[0])));
    if (inserted.size > 0 && rows.some((r) => inserted.has(r[0]))) return false;
  }
  return true;
}

/** The held rows as one statement, where arrays bind and no update targets a row inserted with it. */
function asOneStatement(direct: Sql, inserts: readonly HeldInsert[], updates: readonly HeldUpdate[]): Statement | undefined {
  if (inserts.length + updates.length === 0 || !usesArrays(direct) || !independent(inserts, updates)) return undefined;
  return combineStatements([
    ...inserts.flatMap((i) => insertFromRows('arrays', i.table, i.columns, i.rows)),
    ...updates.flatMap((u) => updateFromRows('arrays', u.update, u.rows)),
  ]);
}

/**
 * Thrown by the Sql that `writtenAsOneStatement` gives `work` when `work` runs a statement itself:
 * nothing has been written, and the caller takes a transaction instead.
 */
class NotOneStatement extends Error {}

/**
 * Runs `work` against a Sql that only holds rows (inserts and updates by id) and runs nothing, and
 * returns what it held as one statement, which commits by itself where the caller runs it outside
 * a transaction: all of `work`'s writes or none. Undefined when `work` ran a statement of its own
 * (a read, say) or its rows cannot share one statement; then nothing was run, and the caller runs
 * `work` in a transaction. `connection` says the dialect of the connection that will run the
 * statement and whether arrays bind on it.
 */
export async function writtenAsOneStatement<T>(
  connection: Pick<Sql, 'dialect' | 'bindsArrays'>,
  work: (sql: Sql) => Promise<T>,
): Promise<{ result: T; statement: Statement; witness: Witness | undefined } | undefined> {
  const refuse = (): Promise<never> => Promise.reject(new NotOneStatement());
  const sql = new DeferringSql({ dialect: connection.dialect, bindsArrays: connection.bindsArrays === true, all: refuse, run: refuse });
  let result: T;
  try {
    result = await work(sql);
  } catch (error) {
    if (error instanceof NotOneStatement) return undefined;
    throw error;
  }
  const held = sql.heldAsOneStatement();
  return held ? { result, ...held } : undefined;
}

/**
 * Runs `work` with a deferring Sql over `direct`, and writes what it held before returning.
 * `written.witness` receives the first row inserted from `insertRows`, as soon as it is written.
 */
export async function withDeferredInserts<T>(direct: Sql, work: (sql: Sql) => Promise<T>, written?: { witness?: Witness }): Promise<T> {
  const sql = new DeferringSql(direct);
  try {
    const result = await work(sql);
    await sql.flush();
    return result;
  } finally {
    if (written && sql.witness) written.witness = sql.witness;
  }
}
