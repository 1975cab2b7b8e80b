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
    const statement = updateFromRows(sql.dialect, update, rows);
    await sql.run(statement.text, statement.params);
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
    const statement = insertFromRows(sql.dialect, table, columns, rows);
    await sql.run(statement.text, statement.params);
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

/** An INSERT of `rows` from one parameter (see `rowsSource`). */
export function insertFromRows(dialect: DatabaseDialect, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Statement {
  return { text: statementTexts.insert(dialect, table, columns), params: rowsParams(dialect, columns, rows) };
}

/** `update` for `rows` from one parameter (see `rowsSource`). */
export function updateFromRows(dialect: DatabaseDialect, update: RowUpdate, rows: readonly (readonly unknown[])[]): Statement {
  const columns: readonly Column[] = [{ name: 'id', type: 'text' }, ...update.columns];
  return { text: statementTexts.update(dialect, update, columns), params: rowsParams(dialect, columns, rows) };
}

/**
 * The texts of `insertFromRows` and `updateFromRows`, built once per table, column list and
 * dialect: the hot path runs them for every batch, and a text built anew each time is a new string
 * to hash for the prepared-statement cache.
 */
const statementTexts = {
  inserts: new Map<string, string>(),
  updates: new Map<RowUpdate, Record<DatabaseDialect, string>>(),
  insert(dialect: DatabaseDialect, table: string, columns: readonly Column[]): string {
    const names = columns.map((c) => c.name).join(', ');
    const key = `${dialect} ${table} ${names}`;
    let text = this.inserts.get(key);
    if (!text) {
      // Columns by name, not `*`: statements with `*` are not prepared (fast-sql.ts).
      text = `INSERT INTO ${table} (${names}) SELECT ${names} FROM ${rowsSource(dialect, columns)}`;
      this.inserts.set(key, text);
    }
    return text;
  },
  update(dialect: DatabaseDialect, update: RowUpdate, columns: readonly Column[]): string {
    let texts = this.updates.get(update);
    if (!texts) {
      const build = (d: DatabaseDialect): string =>
        `UPDATE ${update.table} SET ${updateSet(update)} FROM ${rowsSource(d, columns)} WHERE ${updateWhere(d, update)}`;
      texts = { postgresql: build('postgresql'), sqlite: build('sqlite') };
      this.updates.set(update, texts);
    }
    return texts[dialect];
  },
};

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
 * Whether a batch of rows can travel as the parameters of `rowsSource`: always on SQLite (one JSON
 * text), on PostgreSQL only where arrays bind.
 */
export function bindsRows(sql: Sql): boolean {
  return sql.dialect === 'sqlite' || usesArrays(sql);
}

/**
 * The rows of a batch as the source `v` of one statement, whose text does not depend on how many
 * rows there are. PostgreSQL: `unnest(?::text[], ?::bigint[], ...) AS v(id, ...)`, one typed array
 * per column; a VALUES list of n rows was a new statement of n × columns parameters to parse and
 * plan. SQLite: `json_each` over one JSON array of rows, each row an array of column values; on this
 * machine a batch of starts or outcomes as one such statement cost about 7% less CPU than one
 * prepared statement per row (ledger-only loop, 60,000 jobs, 50 lanes), since binding and stepping
 * a statement, not finding the row, was most of a row's cost.
 */
export function rowsSource(dialect: DatabaseDialect, columns: readonly Column[]): string {
  if (dialect === 'sqlite') {
    return `(SELECT ${columns.map((c, i) => `value ->> ${i} AS ${c.name}`).join(', ')} FROM json_each(?)) AS v`;
  }
  return `unnest(${columns.map((c) => `?::${arrayTypes[c.type]}`).join(', ')}) AS v(${columns.map((c) => c.name).join(', ')})`;
}

/**
 * The parameters of `rowsSource` for `rows` (each `[value of column 0, value of column 1, ...]`).
 * On SQLite a JSON-typed column's value is its JSON text already (`encodeJson`): `->>` gives it back
 * as that text, as a bound parameter would have. Booleans become 1/0 either way.
 */
export function rowsParams(dialect: DatabaseDialect, columns: readonly Column[], rows: readonly (readonly unknown[])[]): unknown[] {
  if (dialect === 'sqlite') return [JSON.stringify(rows)];
  return columns.map((_, i) => rows.map((row) => row[i] ?? null));
}

/**
 * `column` as a term SQLite's planner will not use an index for (a unary `+`), in statements that
 * join a batch source `v` to a table by id. SQLite cannot see how many rows `json_each` yields, and
 * given an index on the extra condition it chose to scan every matching row and join the batch to
 * each: finishing a batch of attempts walked every running attempt (measured: a fifth more CPU per
 * job in the ledger-only loop) instead of looking up each attempt by id.
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
