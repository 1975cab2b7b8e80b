/**
 * `setMany` and `deleteMany` written set-based: the batch's entries are read in one SELECT, every
 * change is worked out in memory by the rules of state-writes.ts, and the rows go out as one
 * statement per table (per `rowsPerStatement` keys): one upsert of `state_entries`, one INSERT of
 * `state_transitions`, one of `events`. Versions, transitions, events and audit rows are the ones
 * the key-by-key path writes for the same changes.
 *
 * Concurrency: the upsert is fenced like the key-by-key UPDATE, on PostgreSQL by its
 * `ON CONFLICT ... DO UPDATE ... WHERE state_entries.version = excluded.version - 1` (a row moved
 * since the read is left alone and missing from RETURNING); on SQLite the transaction holds the
 * database's write lock from before its first read (orm-transaction.ts), so no row can move, and
 * knex leaves that WHERE out of a multi-row SQLite upsert anyway. A batch that finds a row moved
 * throws `BatchRaceLost`: its transaction rolls back and the caller applies the batch key by key.
 */
import { raw } from '../orm/mikro-orm.js';
import type { LedgerEm as EntityManager } from '../orm/open-orm.js';
import { BatchVersionConflictError, NotFoundError, type VersionConflict } from '../../errors.js';
import { EventEntity, StateEntryEntity, StateTransitionEntity, type EventRow, type StateEntryRow, type StateTransitionRow } from '../entities/index.js';
import { newId } from '../ids.js';
import { recordAudit } from '../audit/audit-writes.js';
import { stateSubjectId, type StateOp, type StateRef, type StateWriteContext } from './state-model.js';
import { changeFor, entryAfter, stateAuditEntry, transitionFor } from './state-writes.js';

/**
 * Keys per statement: SQLite takes at most 500 rows in a multi-row upsert (knex writes it as a
 * compound SELECT, limited to 500 terms); a transition's 15 columns bind 7,500 values, well under
 * SQLite's limit of 32,766 and PostgreSQL's of 65,535.
 */
const rowsPerStatement = 500;
/** Namespaces OR-ed in one condition at most (see `keyConditions`). */
const maxNamespacesPerCondition = 250;

/** A row of the batch moved between its read and its write (PostgreSQL): apply the batch key by key. */
export class BatchRaceLost extends Error {
  constructor(readonly subjects: readonly string[]) {
    super(`state entries changed by a concurrent writer: ${subjects.slice(0, 5).join(', ')}`);
  }
}

/** Whether `ops` can go set-based: two or more sets or deletes, no key twice. Others go key by key. */
export function isSetBasedBatch(ops: readonly StateOp[]): boolean {
  if (ops.length < 2) return false;
  const seen = new Set<string>();
  for (const op of ops) {
    if (op.op !== 'set' && op.op !== 'delete') return false;
    const id = stateSubjectId(op);
    if (seen.has(id)) return false;
    seen.add(id);
  }
  return true;
}

/**
 * Applies a set-based batch (see `isSetBasedBatch`) in `em`'s transaction and returns each entry as
 * it stands after, in the caller's order. Throws `BatchVersionConflictError` naming every key whose
 * expected version does not hold, `NotFoundError` for the first (in key order) deletion of an entry
 * that is not live, or `BatchRaceLost`; the transaction then rolls back, nothing of the batch kept.
 */
export async function applyStateBatchOrm(em: EntityManager, ops: readonly StateOp[], ctx: StateWriteContext): Promise<StateEntryRow[]> {
  // Key order, as the key-by-key path locks rows: concurrent batches cannot deadlock on PostgreSQL.
  const order = ops.map((op, index) => ({ op, index })).sort((a, b) => compareIds(stateSubjectId(a.op), stateSubjectId(b.op)));
  const sorted = order.map((o) => o.op);
  const current = await readEntries(em, sorted);

  const conflicts: VersionConflict[] = [];
  for (const op of sorted) {
    const entry = current.get(stateSubjectId(op)) ?? null;
    const expected = op.expectedVersion;
    if (expected === undefined) continue;
    const holds = expected === 0 ? entry === null || entry.deletedAt !== null : entry?.version === expected;
    if (!holds) conflicts.push({ subject: stateSubjectId(op), expectedVersion: expected, actualVersion: entry?.version ?? null });
  }
  if (conflicts.length) throw new BatchVersionConflictError(conflicts);
  const gone = sorted.find((op) => op.op === 'delete' && !(current.get(stateSubjectId(op))?.deletedAt === null));
  if (gone) throw new NotFoundError('state entry', stateSubjectId(gone));

  const highest = await highestRecordedVersions(em, sorted.filter((op) => !current.has(stateSubjectId(op))));
  const afters: StateEntryRow[] = [];
  const transitions: StateTransitionRow[] = [];
  const events: EventRow[] = [];
  for (const op of sorted) {
    const id = stateSubjectId(op);
    const before = current.get(id) ?? null;
    const after = entryAfter(op, before, ctx, highest.get(id) ?? 0);
    const [transition, event] = transitionFor(op, changeFor(op, before), before, after, ctx);
    afters.push(after);
    transitions.push(transition);
    events.push({ id: newId('evt'), ...event, payload: event.payload ?? null });
  }

  for (let start = 0; start < afters.length; start += rowsPerStatement) {
    const chunk = afters.slice(start, start + rowsPerStatement);
    const written = await upsertFenced(em, chunk);
    if (written.size < chunk.length) throw new BatchRaceLost(chunk.map((e) => stateSubjectId(e)).filter((id) => !written.has(id)));
  }
  for (let start = 0; start < afters.length; start += rowsPerStatement) {
    await em.insertMany(StateTransitionEntity, transitions.slice(start, start + rowsPerStatement));
    await em.insertMany(EventEntity, events.slice(start, start + rowsPerStatement));
  }
  if (ctx.source !== undefined) {
    for (const transition of transitions) recordAudit(em, { actor: ctx.actor, source: ctx.source }, stateAuditEntry(transition));
    await em.flush();
  }

  const results = new Array<StateEntryRow>(ops.length);
  order.forEach(({ index }, n) => (results[index] = afters[n]!));
  return results;
}

/** Same order as state-writes.ts' `compareKeys` (namespace, then key, by UTF-16 code units). */
function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The batch's entries as the database holds them (soft-deleted included), by `namespace/key`: one SELECT per `rowsPerStatement` keys. */
async function readEntries(em: EntityManager, refs: readonly StateRef[]): Promise<Map<string, StateEntryRow>> {
  const found = new Map<string, StateEntryRow>();
  for (const where of keyConditions(refs)) {
    // Outside the identity map: plain rows, and nothing for the final flush to compare.
    const rows = await em.find(StateEntryEntity, where, { disableIdentityMap: true });
    for (const row of rows) found.set(stateSubjectId(row), row);
  }
  return found;
}

/**
 * Conditions matching `refs`, each over at most `rowsPerStatement` keys: per namespace one
 * `key IN (...)`, OR-ed. Not one OR per key: SQLite refuses an expression nested over 1000 deep.
 */
function keyConditions(refs: readonly StateRef[]): { $or: { namespace: string; key: { $in: string[] } }[] }[] {
  const conditions: { $or: { namespace: string; key: { $in: string[] } }[] }[] = [];
  for (let start = 0; start < refs.length; start += rowsPerStatement) {
    const byNamespace = new Map<string, string[]>();
    for (const ref of refs.slice(start, start + rowsPerStatement)) {
      const keys = byNamespace.get(ref.namespace);
      if (keys) keys.push(ref.key);
      else byNamespace.set(ref.namespace, [ref.key]);
    }
    const groups = [...byNamespace].map(([namespace, keys]) => ({ namespace, key: { $in: keys } }));
    for (let at = 0; at < groups.length; at += maxNamespacesPerCondition) conditions.push({ $or: groups.slice(at, at + maxNamespacesPerCondition) });
  }
  return conditions;
}

/**
 * The highest version each key's events and transitions have used (absent: none), for keys without
 * an entry row: a new entry starts above it (see `StateRows.highestRecordedVersion`). Two grouped
 * SELECTs per `rowsPerStatement` keys.
 */
async function highestRecordedVersions(em: EntityManager, refs: readonly StateRef[]): Promise<Map<string, number>> {
  const highest = new Map<string, number>();
  const raise = (id: string, version: unknown): void => {
    const n = Number(version ?? 0);
    if (n > (highest.get(id) ?? 0)) highest.set(id, n);
  };
  for (let start = 0; start < refs.length; start += rowsPerStatement) {
    const chunk = refs.slice(start, start + rowsPerStatement);
    const bySeq = await em
      .createQueryBuilder(EventEntity)
      .select(['subjectId', raw('max(seq) as highest')])
      .where({ subjectType: 'state', subjectId: { $in: chunk.map((r) => stateSubjectId(r)) } })
      .groupBy('subjectId')
      .execute<{ subjectId: string; highest: unknown }[]>('all');
    for (const row of bySeq) raise(row.subjectId, row.highest);
  }
  for (const where of keyConditions(refs)) {
    const byTransition = await em
      .createQueryBuilder(StateTransitionEntity)
      .select(['namespace', 'key', raw('max(version_after) as highest')])
      .where(where)
      .groupBy(['namespace', 'key'])
      .execute<{ namespace: string; key: string; highest: unknown }[]>('all');
    for (const row of byTransition) raise(stateSubjectId(row), row.highest);
  }
  return highest;
}

/**
 * Writes `entries` in one upsert: a new row is inserted, an existing one updated where it is still at
 * the version before (see the head comment). Returns the `namespace/key` of each row written.
 */
async function upsertFenced(em: EntityManager, entries: readonly StateEntryRow[]): Promise<Set<string>> {
  const written = await em
    .createQueryBuilder(StateEntryEntity)
    .insert([...entries])
    .onConflict(['namespace', 'key'])
    .merge(['status', 'data', 'version', 'deletedAt', 'updatedAt'])
    .where({ version: raw<StateEntryRow, number>('excluded.version - 1') })
    .returning(['namespace', 'key'])
    .execute<{ namespace: string; key: string }[]>('all');
  return new Set(written.map((row) => stateSubjectId(row)));
}
