/**
 * Reading keyed state: one entry, many at once, a namespace by key prefix, and the history of one
 * key. A soft-deleted entry reads as absent unless the caller asks for it.
 */
import { NotFoundError } from '../../errors.js';
import { listStateSchema, parseQuery, stateHistorySchema } from '../query-schemas.js';
import type { StateEntryRow, StateTransitionRow } from '../entities/index.js';
import { stateSubjectId, type ReadStateOptions, type StateRef } from './state-model.js';
import { toStateEntryRow, toStateTransitionRow } from './state-rows.js';
import type { Sql } from '../engine/sql.js';

export interface ListStateOptions extends ReadStateOptions {
  /** Only keys starting with this text (compared literally: "%" and "_" are not wildcards). */
  prefix?: string;
  /** Only keys after this one (for paging: pass the last key of the previous page). */
  afterKey?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
}

export interface StateHistoryOptions {
  /** Only transitions that produced a version above this one (for paging). Default 0. */
  afterVersion?: number;
  /** Default 1000, at most 10,000. */
  limit?: number;
}

/** The entry's row whether or not it is soft-deleted, or null. */
export async function readEntry(sql: Sql, ref: StateRef): Promise<StateEntryRow | null> {
  const [raw] = await sql.all('SELECT * FROM state_entries WHERE namespace = ? AND key = ?', [ref.namespace, ref.key]);
  return raw ? toStateEntryRow(sql.dialect, raw) : null;
}

export async function findState(sql: Sql, ref: StateRef, options: ReadStateOptions = {}): Promise<StateEntryRow | null> {
  const entry = await readEntry(sql, ref);
  return entry && (entry.deletedAt === null || options.includeDeleted) ? entry : null;
}

export async function getState(sql: Sql, ref: StateRef, options: ReadStateOptions = {}): Promise<StateEntryRow> {
  const entry = await findState(sql, ref, options);
  if (!entry) throw new NotFoundError('state entry', stateSubjectId(ref));
  return entry;
}

/** The entries of `refs`, in the same order, with null where there is none. */
export async function getStates(sql: Sql, refs: readonly StateRef[], options: ReadStateOptions = {}): Promise<(StateEntryRow | null)[]> {
  const found = new Map<string, StateEntryRow>();
  const chunkSize = 200;
  for (let start = 0; start < refs.length; start += chunkSize) {
    const chunk = refs.slice(start, start + chunkSize);
    const rows = await sql.all(
      `SELECT * FROM state_entries WHERE (namespace, key) IN (${chunk.map(() => '(?, ?)').join(', ')})`,
      chunk.flatMap((r) => [r.namespace, r.key]),
    );
    for (const raw of rows) {
      const entry = toStateEntryRow(sql.dialect, raw);
      found.set(stateSubjectId(entry), entry);
    }
  }
  return refs.map((ref) => {
    const entry = found.get(stateSubjectId(ref));
    return entry && (entry.deletedAt === null || options.includeDeleted) ? entry : null;
  });
}

/** Entries of one namespace in key order, optionally under a key prefix. */
export async function listState(sql: Sql, namespace: string, given: ListStateOptions = {}): Promise<StateEntryRow[]> {
  const options = parseQuery(listStateSchema, given, 'options');
  const conditions = ['namespace = ?'];
  const params: unknown[] = [namespace];
  if (options.prefix !== undefined && options.prefix !== '') {
    // LIKE finds the candidates (with its wildcards escaped); the substr comparison makes the match
    // exact and case-sensitive on both dialects (SQLite's LIKE ignores ASCII case).
    conditions.push(`key LIKE ? ESCAPE '\\' AND substr(key, 1, ?) = ?`);
    params.push(`${escapeLike(options.prefix)}%`, [...options.prefix].length, options.prefix);
  }
  if (options.afterKey !== undefined) {
    conditions.push('key > ?');
    params.push(options.afterKey);
  }
  if (!options.includeDeleted) conditions.push('deleted_at IS NULL');
  const rows = await sql.all(`SELECT * FROM state_entries WHERE ${conditions.join(' AND ')} ORDER BY key LIMIT ?`, [...params, options.limit ?? 100]);
  return rows.map((r) => toStateEntryRow(sql.dialect, r));
}

/** The transitions of one key, oldest first (soft-deleted entries keep theirs). */
export async function stateHistory(sql: Sql, ref: StateRef, given: StateHistoryOptions = {}): Promise<StateTransitionRow[]> {
  const options = parseQuery(stateHistorySchema, given, 'options');
  const rows = await sql.all(
    'SELECT * FROM state_transitions WHERE namespace = ? AND key = ? AND version_after > ? ORDER BY version_after LIMIT ?',
    [ref.namespace, ref.key, options.afterVersion ?? 0, options.limit ?? 1000],
  );
  return rows.map((r) => toStateTransitionRow(sql.dialect, r));
}

/** `%`, `_` and the escape character itself, escaped for `LIKE ... ESCAPE '\'`. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
