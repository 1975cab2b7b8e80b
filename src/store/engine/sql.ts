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
import { BaseSqlitePlatform } from '../orm/mikro-orm.js';
import type { DatabaseDialect } from '../../config.js';
import { driverErrorOf } from './database-errors.js';
import { databaseNowSql } from './database-clock.js';
import type { Witness } from './postgres/cut-commit.js';

export type Row = Record<string, unknown>;

export interface Sql {
  readonly dialect: DatabaseDialect;
  /** Rows of a SELECT or of a statement with RETURNING. */
  all(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** Runs a statement and returns how many rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
  /**
   * The engine's PostgreSQL transaction keeps the first row it wrote by id (`insertRows`, `writeRows`
   * in row-batch.ts call this): found after a cut-off COMMIT, it says the transaction landed
   * (postgres/cut-commit.ts). Other Sqls have no use for it.
   */
  noteWritten?(witness: Witness): void;
  /**
   * True when a JavaScript array parameter reaches PostgreSQL as an array (the hot path's pg client).
   * Statements through an EntityManager (em-sql.ts) bind scalars only, so statements over `unnest`
   * need this.
   */
  readonly bindsArrays?: boolean;
}

/** Column types, for the casts PostgreSQL needs on VALUES lists and `unnest` arrays. */
export type ColumnType = 'text' | 'bigint' | 'int' | 'json';

export interface Column {
  name: string;
  type: ColumnType;
  /**
   * Inserted as the database's clock (database-clock.ts) rather than the row's value, which is
   * ignored: heartbeats are judged against that clock, whatever the writer's says.
   */
  databaseNow?: true;
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

/**
 * Largest number of rows per VALUES-list statement. SQLite: each batched statement then has at most
 * this many texts (one per row count) in the prepared-statement cache, and its parameters (16
 * columns at most on the hot path) stay far under SQLite's limit. PostgreSQL (through an
 * EntityManager, em-sql.ts): far under its 65,535-parameter limit for the widest table.
 */
const maxValuesRows: Record<DatabaseDialect, number> = { sqlite: 64, postgresql: 200 };

/** Inserts `rows` into `table` now: one statement per chunk of rows (one in all where arrays bind). */
export async function insertRows(sql: Sql, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Promise<void> {
  if (rows.length === 0) return;
  await insertRowsNow(sql, table, columns, rows);
  const id = rows[0]![0];
  if (columns[0]?.name === 'id' && typeof id === 'string') sql.noteWritten?.({ table, id });
}

/** Applies `update` to each row now (see `updateRowsNow`). */
export async function updateRowsById(sql: Sql, update: RowUpdate, rows: readonly (readonly unknown[])[]): Promise<void> {
  if (rows.length === 0) return;
  await updateRowsNow(sql, update, rows);
}

/** One statement per chunk of rows (one in all where arrays bind), joined to the table by id. */
export async function updateRowsNow(sql: Sql, update: RowUpdate, rows: readonly (readonly unknown[])[]): Promise<void> {
  for (const statement of updateFromRows(rowsForm(sql), update, rows)) await sql.run(statement.text, statement.params);
}

/** One statement per chunk of rows (one in all where arrays bind). */
export async function insertRowsNow(sql: Sql, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Promise<void> {
  for (const statement of insertFromRows(rowsForm(sql), table, columns, rows)) await sql.run(statement.text, statement.params);
}

/** One statement and its parameters. */
export interface Statement {
  text: string;
  params: unknown[];
}

/** An INSERT of `rows` (see `RowsStatement`). */
export function insertFromRows(form: RowsForm, table: string, columns: readonly Column[], rows: readonly (readonly unknown[])[]): Statement[] {
  const key = `${table} ${columns.map((c) => (c.databaseNow ? `${c.name}=now` : c.name)).join(', ')}`;
  let statement = rowsStatements.inserts.get(key);
  if (!statement) {
    const names = columns.map((c) => c.name).join(', ');
    const values = (dialect: DatabaseDialect) => columns.map((c) => (c.databaseNow ? databaseNowSql(dialect) : c.name)).join(', ');
    // Columns by name, not `*`: statements with `*` are not prepared (postgres/executor.ts).
    statement = new RowsStatement(columns, (dialect, source) => `INSERT INTO ${table} (${names}) SELECT ${values(dialect)} FROM ${source}`, {
      jsonRows: true,
    });
    rowsStatements.inserts.set(key, statement);
  }
  return statement.statements(form, rows);
}

/** `update` for `rows` (see `RowsStatement`). */
export function updateFromRows(form: RowsForm, update: RowUpdate, rows: readonly (readonly unknown[])[]): Statement[] {
  let statement = rowsStatements.updates.get(update);
  if (!statement) {
    const columns: readonly Column[] = [{ name: 'id', type: 'text' }, ...update.columns];
    statement = new RowsStatement(columns, (d, source) => `UPDATE ${update.table} SET ${updateSet(update)} FROM ${source} WHERE ${updateWhere(d, update)}`);
    rowsStatements.updates.set(update, statement);
  }
  return statement.statements(form, rows);
}

/** The statements of `insertFromRows` and `updateFromRows`, one per table and column list, or per update. */
const rowsStatements = {
  inserts: new Map<string, RowsStatement>(),
  updates: new Map<RowUpdate, RowsStatement>(),
};

/**
 * How a batch's rows reach the database: as one typed array per column (the PostgreSQL hot path's
 * pg client), or as a VALUES list on the given dialect (SQLite, and PostgreSQL through an
 * EntityManager, which binds scalars only).
 */
export type RowsForm = 'arrays' | DatabaseDialect;

export function rowsForm(sql: Sql): RowsForm {
  return usesArrays(sql) ? 'arrays' : sql.dialect;
}

/**
 * A statement over a batch of rows, the source `v` of its FROM (see `rowsSource`). Its text is built
 * once per form and, for a VALUES list, once per row count: the hot path runs the same few
 * statements for every batch, and a text built anew each time is a new string to hash for the
 * prepared-statement cache.
 */
export class RowsStatement {
  private readonly texts: Record<RowsForm, Map<number, string>> = { arrays: new Map(), sqlite: new Map(), postgresql: new Map() };

  /**
   * @param options.jsonRows In the arrays form, pass the rows as one JSON document instead (see
   *   `jsonRowsSource`). Used by inserts, where a bulk enqueue's thousand rows are most of the work.
   */
  constructor(
    readonly columns: readonly Column[],
    private readonly build: (dialect: DatabaseDialect, source: string) => string,
    private readonly options: { jsonRows?: boolean } = {},
  ) {}

  /**
   * The statements that apply this one to `rows` (each `[value of column 0, value of column 1,
   * ...]`), with `extra` parameters after the rows' own: one as arrays, one per chunk of rows as a
   * VALUES list (`maxValuesRows`).
   */
  statements(form: RowsForm, rows: readonly (readonly unknown[])[], extra: readonly unknown[] = []): Statement[] {
    if (form === 'arrays') {
      const rowParams = this.options.jsonRows ? [jsonRows(rows)] : this.columns.map((_, i) => rows.map((row) => row[i] ?? null));
      return [{ text: this.text(form, 0), params: [...rowParams, ...extra] }];
    }
    const statements: Statement[] = [];
    const chunkRows = maxValuesRows[form];
    for (let start = 0; start < rows.length; start += chunkRows) {
      const end = Math.min(rows.length, start + chunkRows);
      // A plain loop: `flat()` and spreads were about 2% of the SQLite bench worker's profile. Sized
      // up front, so a batch's hundreds of values are not copied each time the array would grow.
      const width = this.columns.length;
      const params = new Array<unknown>((end - start) * width + extra.length);
      let p = 0;
      for (let r = start; r < end; r++) {
        const row = rows[r]!;
        if (row.length !== width) throw new Error(`a row for this statement needs ${width} values, got ${row.length}`);
        for (let c = 0; c < width; c++) params[p++] = row[c];
      }
      for (const value of extra) params[p++] = value;
      statements.push({ text: this.text(form, end - start), params });
    }
    return statements;
  }

  private text(form: RowsForm, rowCount: number): string {
    const texts = this.texts[form];
    let text = texts.get(rowCount);
    if (!text) {
      const source = form === 'arrays' && this.options.jsonRows ? jsonRowsSource(this.columns) : rowsSource(form, this.columns, rowCount);
      text = this.build(form === 'arrays' ? 'postgresql' : form, source);
      texts.set(rowCount, text);
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
 * The rows of a batch as the source `v` of one statement. Arrays (PostgreSQL): `unnest(?::text[],
 * ?::bigint[], ...) AS v(id, ...)`, one typed array per column, so the text does not depend on how
 * many rows there are; a VALUES list of n rows was a new statement of n × columns parameters to
 * parse and plan. Otherwise a VALUES list of `rowCount` rows (cast on PostgreSQL, which cannot type
 * an untyped VALUES parameter), prepared once per count on SQLite. A single JSON text through
 * `json_each` kept one SQLite text for any count, but its values are parsed out of the JSON again
 * for every column: measured with 12-row batches, they cost about 1 µs a row more for updates
 * by id (6.1-6.7 against 5.2-5.4 µs) and 1.6 µs a row more for event inserts (11.6 against
 * 10.0 µs), and a bulk enqueue about 16% more CPU (23.6 against 20.3 µs a job).
 */
export function rowsSource(form: RowsForm, columns: readonly Column[], rowCount: number): string {
  if (form === 'arrays') {
    return `unnest(${columns.map((c) => `?::${arrayTypes[c.type]}`).join(', ')}) AS v(${columns.map((c) => c.name).join(', ')})`;
  }
  const row = `(${columns.map((c) => valuePlaceholder(form, c.type)).join(', ')})`;
  const values = Array.from({ length: rowCount }, () => row).join(', ');
  return `(SELECT ${columns.map((c, i) => `column${i + 1} AS ${c.name}`).join(', ')} FROM (VALUES ${values}) AS r) AS v`;
}

/**
 * The rows of a batch as the source `v` of one PostgreSQL statement, from one JSON parameter: an
 * array of rows, each an array of values, taken apart with `->>` and cast. Same text for any row
 * count, like `unnest`; but pg builds an array literal in JavaScript, escaping every element (JSON
 * values twice), where `JSON.stringify` is native. Measured with 1,000-row inserts of
 * job-like rows, one per transaction: 9.4-9.6 µs a row against 18.0-21.5 with arrays, and the
 * client's CPU 4.0-4.5 against 6.7-8.3 µs. JSON values travel as their text and are parsed by the
 * cast, so SQL NULL and JSON `null` stay apart as they do in arrays.
 */
export function jsonRowsSource(columns: readonly Column[]): string {
  const values = columns.map((c, i) => `(r->>${i})::${c.type === 'json' ? 'jsonb' : c.type} AS ${c.name}`);
  return `(SELECT ${values.join(', ')} FROM jsonb_array_elements(?::jsonb) AS r) AS v`;
}

/**
 * The parameter of `jsonRowsSource`. As `bindable` does for pg: undefined becomes null (which
 * `JSON.stringify` does by itself inside arrays) and booleans 1/0 (rows are copied only if one has
 * any: a replacer function would slow every row down).
 */
function jsonRows(rows: readonly (readonly unknown[])[]): string {
  const hasBoolean = rows.some((row) => row.some((value) => typeof value === 'boolean'));
  return JSON.stringify(hasBoolean ? rows.map((row) => row.map((value) => (typeof value === 'boolean' ? Number(value) : value))) : rows);
}

/**
 * Text `column` as a term no index can serve (SQLite: a unary `+`; PostgreSQL: `|| ''`), in
 * statements that join a batch source `v` to a table by id. Given an index on the extra condition,
 * SQLite's planner chose (when the batch came through `json_each`, whose row count it cannot see)
 * to scan every matching row and join the batch to each: finishing a batch of attempts walked every
 * running attempt (measured: a fifth more CPU per job in the ledger-only loop) instead of looking
 * up each attempt by id. With the VALUES source SQLite sees the row count and searches by id
 * with or without the `+` (SQLite 3.49); the `+` stays so that the plan does not hinge on that
 * estimate. PostgreSQL's generic plan for a named statement, made on a small table, took the same
 * walk through the old attempts_status_heartbeat_at_index. Tests check the plans on both.
 */
export function notIndexed(dialect: DatabaseDialect, column: string): string {
  return dialect === 'sqlite' ? `+${column}` : `(${column} || '')`;
}

/** A VALUES placeholder, with the cast PostgreSQL needs to type it. */
function valuePlaceholder(dialect: DatabaseDialect, type: ColumnType): string {
  if (dialect === 'sqlite') return '?';
  return type === 'json' ? '?::jsonb' : `?::${type}`;
}

const arrayTypes: Record<ColumnType, string> = { text: 'text[]', bigint: 'bigint[]', int: 'int[]', json: 'jsonb[]' };

/** The ledger has two dialects; asking whether it is SQLite spares a SQLite command the PostgreSQL driver's package. */
export function dialectOf(em: EntityManager): DatabaseDialect {
  return em.getPlatform() instanceof BaseSqlitePlatform ? 'sqlite' : 'postgresql';
}

/** `?, ?, ?` for a list of n values. */
export function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
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
  const e = driverErrorOf(error) as { name?: string; code?: string; message?: string } | null;
  return (
    e?.name === 'UniqueConstraintViolationException' ||
    e?.code === '23505' ||
    (typeof e?.message === 'string' && e.message.includes('UNIQUE constraint failed'))
  );
}
