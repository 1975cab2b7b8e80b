/**
 * Reading keyed state through an EntityManager: one entry, many at once, a namespace by key prefix,
 * and the history of one key. A soft-deleted entry reads as absent unless the caller asks for it.
 */
import type { EntityManager } from '@mikro-orm/core';
import { NotFoundError } from '../../errors.js';
import { listStateSchema, parseQuery, stateHistorySchema } from '../query-schemas.js';
import { StateEntryEntity, StateTransitionEntity, type StateEntryRow, type StateTransitionRow } from '../entities/index.js';
import { sqlFor } from '../orm/em-sql.js';
import { stateSubjectId, type ReadStateOptions, type StateRef } from './state-model.js';

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

/**
 * The entry's row whether or not it is soft-deleted, or null. Always from the database (`refresh`):
 * a write applied with `nativeUpdate` earlier in the same fork is not in its identity map.
 */
export async function readEntry(em: EntityManager, ref: StateRef): Promise<StateEntryRow | null> {
  return em.findOne(StateEntryEntity, { namespace: ref.namespace, key: ref.key }, { refresh: true });
}

export async function findState(em: EntityManager, ref: StateRef, options: ReadStateOptions = {}): Promise<StateEntryRow | null> {
  const entry = await readEntry(em, ref);
  return entry && (entry.deletedAt === null || options.includeDeleted) ? entry : null;
}

export async function getState(em: EntityManager, ref: StateRef, options: ReadStateOptions = {}): Promise<StateEntryRow> {
  const entry = await findState(em, ref, options);
  if (!entry) throw new NotFoundError('state entry', stateSubjectId(ref));
  return entry;
}

/** The entries of `refs`, in the same order, with null where there is none. */
export async function getStates(em: EntityManager, refs: readonly StateRef[], options: ReadStateOptions = {}): Promise<(StateEntryRow | null)[]> {
  const found = new Map<string, StateEntryRow>();
  const chunkSize = 200;
  for (let start = 0; start < refs.length; start += chunkSize) {
    const chunk = refs.slice(start, start + chunkSize);
    const rows = await em.find(StateEntryEntity, { $or: chunk.map((r) => ({ namespace: r.namespace, key: r.key })) });
    for (const entry of rows) found.set(stateSubjectId(entry), entry);
  }
  return refs.map((ref) => {
    const entry = found.get(stateSubjectId(ref));
    return entry && (entry.deletedAt === null || options.includeDeleted) ? entry : null;
  });
}

/** Entries of one namespace in key order, optionally under a key prefix. */
export async function listState(em: EntityManager, namespace: string, given: ListStateOptions = {}): Promise<StateEntryRow[]> {
  const options = parseQuery(listStateSchema, given, 'options');
  const limit = options.limit ?? 100;
  if (options.prefix !== undefined && options.prefix !== '') return listByPrefix(em, namespace, options.prefix, options, limit);
  return em.find(
    StateEntryEntity,
    { namespace, ...(options.afterKey !== undefined ? { key: { $gt: options.afterKey } } : {}), ...(options.includeDeleted ? {} : { deletedAt: null }) },
    { orderBy: { key: 'asc' }, limit },
  );
}

/**
 * Raw, through the fork's connection with every value bound, and mapped onto the entity by `em.map`:
 * the ORM's `$like` has no ESCAPE clause (so "%" and "_" in the prefix would be wildcards), and
 * MikroORM 6 writes the values of its own queries, a QueryBuilder's raw conditions included, into
 * the SQL text. LIKE finds the candidates (with its wildcards escaped); the substr comparison makes
 * the match exact and case-sensitive on both dialects (SQLite's LIKE ignores ASCII case).
 */
async function listByPrefix(em: EntityManager, namespace: string, prefix: string, options: ListStateOptions, limit: number): Promise<StateEntryRow[]> {
  const conditions = [`namespace = ?`, `key LIKE ? ESCAPE '\\' AND substr(key, 1, ?) = ?`];
  const params: unknown[] = [namespace, `${escapeLike(prefix)}%`, [...prefix].length, prefix];
  if (options.afterKey !== undefined) {
    conditions.push('key > ?');
    params.push(options.afterKey);
  }
  if (!options.includeDeleted) conditions.push('deleted_at IS NULL');
  const rows = await sqlFor(em).all(`SELECT * FROM state_entries WHERE ${conditions.join(' AND ')} ORDER BY key LIMIT ?`, [...params, limit]);
  return rows.map((row) => em.map(StateEntryEntity, row));
}

/**
 * Namespaces that hold entries (soft-deleted ones count), in order, after `afterNamespace`. One
 * probe of the primary key (namespace, key) per namespace: the cost follows the namespaces listed,
 * not the entries they hold.
 */
export async function listNamespaces(em: EntityManager, options: { afterNamespace?: string; limit: number }): Promise<string[]> {
  const found: string[] = [];
  let after = options.afterNamespace;
  while (found.length < options.limit) {
    const [next] = await em.find(StateEntryEntity, after === undefined ? {} : { namespace: { $gt: after } }, {
      orderBy: { namespace: 'asc', key: 'asc' },
      limit: 1,
      fields: ['namespace', 'key'],
      disableIdentityMap: true,
    });
    if (!next) break;
    found.push(next.namespace);
    after = next.namespace;
  }
  return found;
}

/** The transitions of one key, oldest first (soft-deleted entries keep theirs). */
export async function stateHistory(em: EntityManager, ref: StateRef, given: StateHistoryOptions = {}): Promise<StateTransitionRow[]> {
  const options = parseQuery(stateHistorySchema, given, 'options');
  return em.find(
    StateTransitionEntity,
    { namespace: ref.namespace, key: ref.key, versionAfter: { $gt: options.afterVersion ?? 0 } },
    { orderBy: { versionAfter: 'asc' }, limit: options.limit ?? 1000 },
  );
}

/** `%`, `_` and the escape character itself, escaped for `LIKE ... ESCAPE '\'`. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}
