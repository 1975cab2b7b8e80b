/**
 * The rows a hot-path batch writes besides its fenced job update: attempt and event inserts, and
 * attempt updates by id. The batch functions (attempts/attempt-batch.ts, jobs/job-writes.ts) collect
 * them here for the whole batch and write them with `writeRows`: one multi-row statement per table,
 * or, where arrays bind (the PostgreSQL engine), one statement for all tables. Nothing is held
 * behind the caller's back: a batch is written exactly where its function calls `writeRows`.
 */
import { combineStatements, insertFromRows, rowsForm, updateFromRows, usesArrays, type Column, type RowUpdate, type Sql, type Statement } from './sql.js';
import type { Witness } from './postgres/cut-commit.js';

interface BatchInsert {
  table: string;
  columns: readonly Column[];
  rows: (readonly unknown[])[];
}

export class RowBatch {
  /** Per columns array (the callers pass module constants), per table. */
  private readonly inserts = new Map<readonly Column[], Map<string, BatchInsert>>();
  private readonly updates = new Map<RowUpdate, (readonly unknown[])[]>();
  private count = 0;

  /** Adds rows to insert into `table`, each `[value of column 0, ...]`; the first column is the id. */
  insert(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): this {
    if (rows.length === 0) return this;
    let byTable = this.inserts.get(columns);
    if (!byTable) this.inserts.set(columns, (byTable = new Map<string, BatchInsert>()));
    let entry = byTable.get(table);
    if (!entry) byTable.set(table, (entry = { table, columns, rows: [] }));
    for (const row of rows) entry.rows.push(row);
    this.count += rows.length;
    return this;
  }

  /** Adds rows for `update`, each `[id, ...values of its columns]`. */
  update(update: RowUpdate, rows: readonly (readonly unknown[])[]): this {
    if (rows.length === 0) return this;
    let entry = this.updates.get(update);
    if (!entry) this.updates.set(update, (entry = []));
    for (const row of rows) entry.push(row);
    this.count += rows.length;
    return this;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  /** Forgets every row (after `writeRows` wrote them). */
  clear(): void {
    this.inserts.clear();
    this.updates.clear();
    this.count = 0;
  }

  /**
   * The first inserted row of a table whose first column is its id (jobs, attempts and events all
   * are): found after a cut-off COMMIT, it says the batch landed (postgres/cut-commit.ts).
   */
  witness(): Witness | undefined {
    for (const entry of this.insertList()) {
      const id = entry.rows[0]?.[0];
      if (entry.columns[0]?.name === 'id' && typeof id === 'string') return { table: entry.table, id };
    }
    return undefined;
  }

  /**
   * The statements that write the batch on `sql`: inserts first, then updates (an update may target
   * a row inserted with it). Where arrays bind, all of them as one statement, one round trip: on a
   * 2-core host a statement's round trip (the write that wakes the backend) was a third of the
   * worker's CPU in the PostgreSQL bench profile. The parts of one statement do not see each
   * other's rows, so that holds only while no update targets a row inserted with it.
   */
  statements(sql: Pick<Sql, 'dialect' | 'bindsArrays'>): Statement[] {
    const form = rowsForm(sql as Sql);
    const parts = [
      ...this.insertList().flatMap((i) => insertFromRows(form, i.table, i.columns, i.rows)),
      ...[...this.updates].flatMap(([update, rows]) => updateFromRows(form, update, rows)),
    ];
    if (parts.length <= 1 || !usesArrays(sql as Sql) || !this.independent()) return parts;
    return [combineStatements(parts)];
  }

  private insertList(): BatchInsert[] {
    const list: BatchInsert[] = [];
    for (const byTable of this.inserts.values()) for (const entry of byTable.values()) list.push(entry);
    return list;
  }

  /** Whether no update targets a row inserted in the same batch (by id, the first column of both). */
  private independent(): boolean {
    for (const [update, rows] of this.updates) {
      const inserted = new Set(this.insertList().filter((i) => i.table === update.table).flatMap((i) => i.rows.map((r) => r[0])));
      if (inserted.size > 0 && rows.some((r) => inserted.has(r[0]))) return false;
    }
    return true;
  }
}

/**
 * Writes `batch` on `sql` now and empties it. In the engine's PostgreSQL transaction, the batch's
 * first inserted row becomes the transaction's witness (`Sql.noteWritten`).
 */
export async function writeRows(sql: Sql, batch: RowBatch): Promise<void> {
  if (batch.empty) return;
  const witness = batch.witness();
  const statements = batch.statements(sql);
  batch.clear();
  for (const statement of statements) await sql.run(statement.text, statement.params);
  if (witness) sql.noteWritten?.(witness);
}
