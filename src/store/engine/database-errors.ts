/**
 * Driver errors, wrapped. A PostgreSQL or SQLite error thrown by a ledger statement becomes a coded
 * `DatabaseError` whose message names the driver's code (and, for a constraint, its name) but
 * neither the statement nor any of its values: a value may be a secret (a state document, a
 * payload), and PostgreSQL's own messages quote values (`invalid input syntax for type bigint:
 * "..."`, a JSON document's text in `where`). The driver's error stays available as `cause`.
 *
 * Code that must recognise a driver error (retrying a lost lock, a unique violation) looks through
 * the wrapper with `driverErrorOf`.
 */
import type { DatabaseDialect } from '../../config.js';
import { DatabaseError } from '../../errors.js';

interface DriverErrorFields {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
  constraint?: unknown;
  table?: unknown;
  column?: unknown;
}

/** `error` as a `DatabaseError` if it came from the database driver; anything else as it is. */
export function wrapDatabaseError(error: unknown, dialect: DatabaseDialect, statement?: string): unknown {
  if (error instanceof DatabaseError || !(error instanceof Error)) return error;
  const e = error as Error & DriverErrorFields;
  if (typeof e.code !== 'string') return error;
  if (/^[0-9A-Z]{5}$/.test(e.code) && (dialect === 'postgresql' || e.severity !== undefined)) {
    return new DatabaseError(e.code, postgresDetail(e, e.code), redactPostgresError(e));
  }
  if (e.code.startsWith('SQLITE_')) return new DatabaseError(e.code, sqliteDetail(e.message, e.code, statement), error);
  return error;
}

/** The driver's own error inside a `DatabaseError`, or `error` itself. */
export function driverErrorOf(error: unknown): unknown {
  return error instanceof DatabaseError ? error.cause : error;
}

/**
 * PostgreSQL: the SQLSTATE, its condition name and the schema object it names. Not its message,
 * which may quote a value.
 */
function postgresDetail(e: DriverErrorFields, code: string): string {
  const condition = postgresConditions[code] ?? postgresClasses[code.slice(0, 2)] ?? 'error';
  const names = [
    typeof e.constraint === 'string' ? `constraint ${e.constraint}` : '',
    typeof e.table === 'string' ? `table ${e.table}` : '',
    typeof e.column === 'string' ? `column ${e.column}` : '',
  ].filter(Boolean);
  return `the database refused a statement: PostgreSQL ${code} (${condition})${names.length ? `, ${names.join(', ')}` : ''}; its statement and values are left out of this message`;
}

/**
 * The driver's error, kept as the cause for debug logs, without the values PostgreSQL puts in it:
 * its message quotes them (`invalid input syntax for type bigint: "..."`), `detail` names a
 * duplicate key's values and `where` quotes a refused JSON document. Quoted text is blanked; the
 * code, the schema object's names and the statement as written (placeholders) stay.
 */
function redactPostgresError<E extends Error & DriverErrorFields>(e: E): E {
  const blank = (text: string): string => text.replace(/"(?:[^"\\]|\\.)*"/g, '"[redacted]"');
  try {
    e.message = blank(e.message);
    const fields = e as unknown as { detail?: unknown; where?: unknown };
    if (typeof fields.detail === 'string') fields.detail = '[redacted: may hold values]';
    if (typeof fields.where === 'string') fields.where = '[redacted: may hold values]';
  } catch {
    // a frozen error: left as it is
  }
  return e;
}

/**
 * SQLite: its code and message. SQLite's messages name columns and constraints, never a bound value;
 * knex puts the statement in front (`<statement> - <message>`), which is cut off.
 */
function sqliteDetail(message: unknown, code: string, statement: string | undefined): string {
  let text = typeof message === 'string' ? message : '';
  if (statement !== undefined && text.startsWith(`${statement} - `)) text = text.slice(statement.length + 3);
  else if (text.includes(' - ')) text = text.slice(text.lastIndexOf(' - ') + 3);
  if (text.length > 200) text = `${text.slice(0, 197)}...`;
  return `the database refused a statement: SQLite ${code}${text ? ` (${text})` : ''}; its statement and values are left out of this message`;
}

/** The SQLSTATE conditions a ledger statement can meet, by name (PostgreSQL's appendix A). */
const postgresConditions: Readonly<Record<string, string>> = {
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22007': 'invalid_datetime_format',
  '22021': 'character_not_in_repertoire',
  '22023': 'invalid_parameter_value',
  '22P02': 'invalid_text_representation',
  '22P05': 'untranslatable_character',
  '23502': 'not_null_violation',
  '23503': 'foreign_key_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '25P02': 'in_failed_sql_transaction',
  '40001': 'serialization_failure',
  '40P01': 'deadlock_detected',
  '42601': 'syntax_error',
  '42703': 'undefined_column',
  '42P01': 'undefined_table',
  '53300': 'too_many_connections',
  '54000': 'program_limit_exceeded',
  '54001': 'statement_too_complex',
  '57014': 'query_canceled',
  '57P01': 'admin_shutdown',
};

/** SQLSTATE classes, for codes not named above. */
const postgresClasses: Readonly<Record<string, string>> = {
  '08': 'connection exception',
  '22': 'data exception',
  '23': 'integrity constraint violation',
  '25': 'invalid transaction state',
  '40': 'transaction rollback',
  '42': 'syntax error or access rule violation',
  '53': 'insufficient resources',
  '54': 'program limit exceeded',
  '57': 'operator intervention',
  '58': 'system error',
  XX: 'internal error',
};
