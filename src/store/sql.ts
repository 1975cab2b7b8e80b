/**
 * Plain parameterised statements on the ORM's own connection, inside the caller's transaction when
 * there is one. Used for ledger bookkeeping where entity tracking buys nothing: conditional
 * transitions need `UPDATE ... WHERE status IN (...) RETURNING`, and transactional enqueue must write
 * through an application's EntityManager that may not know the ledger's entities.
 *
 * The two dialects differ here only in how values come back: SQLite returns JSON as text and
 * PostgreSQL returns BIGINT as strings. `decodeJson` and `toNumber` absorb both.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { PostgreSqlPlatform } from '@mikro-orm/postgresql';
import type { DatabaseDialect } from '../config.js';

export type Row = Record<string, unknown>;

export interface Sql {
  readonly dialect: DatabaseDialect;
  /** Rows of a SELECT or of a statement with RETURNING. */
  all(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * Inserts rows whose result nobody reads back in this transaction. A batching Sql may hold them
   * and write them as one multi-row INSERT before the next statement on that table and before the
   * commit; use the `insertRows` function, which falls back to an immediate insert.
   */
  insertRows?(table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Promise<void>;
  /** Like `insertRows`, for updates by id whose effect nobody reads back: see `updateRowsById`. */
  updateRows?(update: RowUpdate, rows: readonly (readonly unknown[])[]): Promise<void>;
  /**
   * True when a JavaScript array parameter reaches PostgreSQL as an array (the hot path's pg client).
   * MikroORM's `execute` expands arrays into lists instead, so statements over `unnest` need this.
   */
  readonly bindsArrays?: boolean;
}

/** Column types, for the casts PostgreSQL needs on VALUES lists and `unnest` arrays. */
export type ColumnType = 'text' | 'bigint' | 'int' | 'json';

export interface Column {
  name: string;
  type: ColumnType;
}

/**
 * `UPDATE <table> SET <col> = <value>, ... WHERE id = <id> AND <condition>` for many rows: each row
 * is `[id, ...values of columns]`.
 */
export interface RowUpdate {
  table: string;
  columns: readonly Column[];
  /** Only rows whose `column` holds `equals` are changed (e.g. status `running`). */
  condition: { column: string; equals: string };
}

/** Largest number of rows per multi-row INSERT (stays under both dialects' parameter limits). */
const maxRowsPerInsert = 200;
/**
 * Largest number of rows per batched statement on SQLite, whose text holds one VALUES row per row:
 * each statement then has at most this many texts (one per row count) in the prepared-statement
 * cache, and its parameters (16 columns at most on the hot path) stay far under SQLite's limit.
 */
const maxRowsPerSqliteStatement = 64;

/** Inserts `rows` into `table`, deferred and merged where the Sql supports it. */
export async function insertRows(sql: Sql, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Promise<void> {
  if (rows.length === 0) return;
  if (sql.insertRows) return sql.insertRows(table, columns, rows);
  await insertRowsNow(sql, table, columns, rows);
}

/** Applies `update` to each row, deferred and merged into one statement where the Sql supports it. */
export async function updateRowsById(sql: Sql, update: RowUpdate, rows: readonly (readonly unknown[])[]): Promise<void> {
  if (rows.length === 0) return;
  if (sql.updateRows) return sql.updateRows(update, rows);
  await updateRowsNow(sql, update, rows);
}

/**
 * One statement for many rows, joined to the table by id (UPDATE ... FROM, which SQLite has since
 * 3.33). Where the rows can travel as one parameter (`bindsRows`), the statement text is the same
 * for any number of rows; otherwise a VALUES list per chunk.
 */
export async function updateRowsNow(sql: Sql, update: RowUpdate, rows: readonly (readonly unknown[])[]): Promise<void> {
  if (bindsRows(sql)) {
    for (const statement of updateFromRows(sql.dialect, update, rows)) await sql.run(statement.text, statement.params);
    return;
  }
  const columns: readonly Column[] = [{ name: 'id', type: 'text' }, ...update.columns];
  const rowSql = `(${columns.map((c) => valueCast(sql, c.type)).join(', ')})`;
  for (let start = 0; start < rows.length; start += maxRowsPerInsert) {
    const chunk = rows.slice(start, start + maxRowsPerInsert);
    await sql.run(
      `WITH v(${columns.map((c) => c.name).join(', ')}) AS (VALUES ${chunk.map(() => rowSql).join(', ')})
       UPDATE ${update.table} SET ${updateSet(update)} FROM v WHERE ${updateWhere(sql.dialect, update)}`,
      chunk.flat(),
    );
  }
}

/** Inserts now, in as few statements as the Sql allows (one where rows travel as one parameter). */
export async function insertRowsNow(sql: Sql, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Promise<void> {
  if (bindsRows(sql)) {
    for (const statement of insertFromRows(sql.dialect, table, columns, rows)) await sql.run(statement.text, statement.params);
    return;
  }
  const names = columns.map((c) => c.name).join(', ');
  for (let start = 0; start < rows.length; start += maxRowsPerInsert) {
    const chunk = rows.slice(start, start + maxRowsPerInsert);
    await sql.run(`INSERT INTO ${table} (${names}) VALUES ${valuesList(chunk.length, columns.length)}`, chunk.flat());
  }
}

/** One statement and its parameters. */
export interface Statement {
  text: string;
  params: unknown[];
}

/** An INSERT of `rows` (see `RowsStatement`): one statement on PostgreSQL, one per chunk on SQLite. */
export function insertFromRows(dialect: DatabaseDialect, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Statement[] {
  const key = `${table} ${columns.map((c) => c.name).join(', ')}`;
  let statement = rowsStatements.inserts.get(key);
  if (!statement) {
    const names = columns.map((c) => c.name).join(', ');
    // Columns by name, not `*`: statements with `*` are not prepared (fast-sql.ts).
    statement = new RowsStatement(columns, (_dialect, source) => `INSERT INTO ${table} (${names}) SELECT ${names} FROM ${source}`);
    rowsStatements.inserts.set(key, statement);
  }
  return statement.statements(dialect, rows);
}

/** `update` for `rows` (see `RowsStatement`): one statement on PostgreSQL, one per chunk on SQLite. */
export function updateFromRows(dialect: DatabaseDialect, update: RowUpdate, rows: readonly (readonly unknown[])[]): Statement[] {
  let statement = rowsStatements.updates.get(update);
  if (!statement) {
    const columns: readonly Column[] = [{ name: 'id', type: 'text' }, ...update.columns];
    statement = new RowsStatement(columns, (d, source) => `UPDATE ${update.table} SET ${updateSet(update)} FROM ${source} WHERE ${updateWhere(d, update)}`);
    rowsStatements.updates.set(update, statement);
  }
  return statement.statements(dialect, rows);
}

/** The statements of `insertFromRows` and `updateFromRows`, one per table and column list, or per update. */
const rowsStatements = {
  inserts: new Map<string, RowsStatement>(),
  updates: new Map<RowUpdate, RowsStatement>(),
};

/**
 * A statement over a batch of rows, the source `v` of its FROM (see `rowsSource`). Its text is built
 * once per dialect and, on SQLite, once per row count: the hot path runs the same few statements for
 * every batch, and a text built anew each time is a new string to hash for the prepared-statement
 * cache.
 */
export class RowsStatement {
  private readonly texts = new Map<number, string>();

  constructor(
    readonly columns: readonly Column[],
    private readonly build: (dialect: DatabaseDialect, source: string) => string,
  ) {}

  /**
   * The statements that apply this one to `rows` (each `[value of column 0, value of column 1,
   * ...]`), with `extra` parameters after the rows' own: one on PostgreSQL, one per chunk of at most
   * 64 rows on SQLite.
   */
  statements(dialect: DatabaseDialect, rows: readonly (readonly unknown[])[], extra: readonly unknown[] = []): Statement[] {
    if (dialect === 'postgresql') {
      const arrays = this.columns.map((_, i) => rows.map((row) => row[i] ?? null));
      return [{ text: this.text(dialect, 0), params: [...arrays, ...extra] }];
    }
    const statements: Statement[] = [];
    for (let start = 0; start < rows.length; start += maxRowsPerSqliteStatement) {
      const end = Math.min(rows.length, start + maxRowsPerSqliteStatement);
      // A plain loop: `flat()` and spreads were about 2% of the SQLite bench worker's profile.
      const params: unknown[] = [];
      for (let r = start; r < end; r++) for (const value of rows[r]!) params.push(value);
      for (const value of extra) params.push(value);
      statements.push({ text: this.text(dialect, end - start), params });
    }
    return statements;
  }

  private text(dialect: DatabaseDialect, rowCount: number): string {
    const key = dialect === 'postgresql' ? -1 : rowCount;
    let text = this.texts.get(key);
    if (!text) {
      text = this.build(dialect, rowsSource(dialect, this.columns, rowCount));
      this.texts.set(key, text);
    }
    return text;
  }
}

/**
 * Several data-modifying statements as one (PostgreSQL: `WITH w1 AS (...), ... <last>`), one round
 * trip instead of several. They all see the database as it was before the statement, so none may
 * depend on another's rows: the caller checks that. SQLite has no data-modifying WITH.
 */
export function combineStatements(statements: readonly Statement[]): Statement {
  if (statements.length === 1) return statements[0]!;
  const head = statements.slice(0, -1).map((s, i) => `w${i + 1} AS (${s.text})`);
  return { text: `WITH ${head.join(', ')} ${statements.at(-1)!.text}`, params: statements.flatMap((s) => s.params) };
}

function updateSet(update: RowUpdate): string {
  return update.columns.map((c) => `${c.name} = v.${c.name}`).join(', ');
}

function updateWhere(dialect: DatabaseDialect, update: RowUpdate): string {
  const { column, equals } = update.condition;
  return `${update.table}.id = v.id AND ${notIndexed(dialect, `${update.table}.${column}`)} = '${equals.replaceAll("'", "''")}'`;
}

/** Whether PostgreSQL gets JavaScript arrays as arrays (the hot path's pg client; see `bindsArrays`). */
export function usesArrays(sql: Sql): boolean {
  return sql.dialect === 'postgresql' && sql.bindsArrays === true;
}

/**
 * Whether a batch of rows can travel as the parameters of `rowsSource`: always on SQLite (one VALUES
 * row per row), on PostgreSQL only where arrays bind.
 */
export function bindsRows(sql: Sql): boolean {
  return sql.dialect === 'sqlite' || usesArrays(sql);
}

/**
 * The rows of a batch as the source `v` of one statement. PostgreSQL: `unnest(?::text[],
 * ?::bigint[], ...) AS v(id, ...)`, one typed array per column, so the text does not depend on how
 * many rows there are; a VALUES list of n rows was a new statement of n × columns parameters to
 * parse and plan. SQLite: a VALUES list of `rowCount` rows, prepared once per count. A single JSON
 * text through `json_each` keeps one text for any count, but its values are parsed out of the JSON
 * again for every column: measured on this machine, 12-row batches cost about 1 µs a row more for
 * updates by id (6.1-6.7 against 5.2-5.4 µs) and 1.6 µs a row more for event inserts (11.6 against
 * 10.0 µs), and a bulk enqueue about 16% more CPU (23.6 against 20.3 µs a job).
 */
export function rowsSource(dialect: DatabaseDialect, columns: readonly Column[], rowCount: number): string {
  if (dialect === 'sqlite') {
    const row = `(${placeholders(columns.length)})`;
    const values = Array.from({ length: rowCount }, () => row).join(', ');
    return `(SELECT ${columns.map((c, i) => `column${i + 1} AS ${c.name}`).join(', ')} FROM (VALUES ${values})) AS v`;
  }
  return `unnest(${columns.map((c) => `?::${arrayTypes[c.type]}`).join(', ')}) AS v(${columns.map((c) => c.name).join(', ')})`;
}

/**
 * `column` as a term SQLite's planner will not use an index for (a unary `+`), in statements that
 * join a batch source `v` to a table by id. Given an index on the extra condition, SQLite's planner
 * chose (when the batch came through `json_each`, whose row count it cannot see) to scan every
 * matching row and join the batch to each: finishing a batch of attempts walked every running
 * attempt (measured: a fifth more CPU per job in the ledger-only loop) instead of looking up each
 * attempt by id. With today's VALUES source the planner sees the row count and searches by id
 * with or without the `+` (SQLite 3.49); the `+` stays so that the plan does not hinge on that
 * estimate, and the test that caught the walk still checks the plan.
 */
export function notIndexed(dialect: DatabaseDialect, column: string): string {
  return dialect === 'sqlite' ? `+${column}` : column;
}

/** A placeholder with the cast PostgreSQL needs to type an untyped VALUES parameter. */
function valueCast(sql: Sql, type: ColumnType): string {
  if (sql.dialect === 'sqlite') return '?';
  return type === 'json' ? '?::jsonb' : `?::${type}`;
}

const arrayTypes: Record<ColumnType, string> = { text: 'text[]', bigint: 'bigint[]', int: 'int[]', json: 'jsonb[]' };

export function dialectOf(em: EntityManager): DatabaseDialect {
  return em.getPlatform() instanceof PostgreSqlPlatform ? 'postgresql' : 'sqlite';
}

/** Statements through `em`, inside its current transaction if it is in one. */
export function sqlFor(em: EntityManager): Sql {
  const sqlEm = em as SqlEntityManager;
  return {
    dialect: dialectOf(em),
    all: (sql, params = []) => sqlEm.execute<Row[]>(sql, [...params], 'all'),
    run: async (sql, params = []) => {
      const result = await sqlEm.execute<{ affectedRows: number }>(sql, [...params], 'run');
      return result.affectedRows;
    },
  };
}

/** `?, ?, ?` for a list of n values. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** A multi-row VALUES list for `rows` rows of `columns` values each. */
export function valuesList(rows: number, columns: number): string {
  const row = `(${placeholders(columns)})`;
  return Array.from({ length: rows }, () => row).join(', ');
}

/** JSON for a json/jsonb parameter; `undefined` and `null` become SQL NULL. */
export function encodeJson(value: unknown): string | null {
  return value === undefined || value === null ? null : JSON.stringify(value);
}

export function decodeJson(dialect: DatabaseDialect, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  return dialect === 'sqlite' && typeof value === 'string' ? JSON.parse(value) : value;
}

export function toNumber(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function toNullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : toNumber(value);
}

/** True when a driver error is a unique-constraint violation, on either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { name?: string; code?: string; message?: string } | null;
  return (
    e?.name === 'UniqueConstraintViolationException' ||
    e?.code === '23505' ||
    (typeof e?.message === 'string' && e.message.includes('UNIQUE constraint failed'))
  );
}
