/**
 * `setMany` and `deleteMany` write set-based (one statement per table for the batch): the rows they
 * leave (entries, transitions, events, audit) must be the ones the same changes made key by key
 * leave, and a rejected batch must leave nothing.
 */
import { describe, expect, it } from 'vitest';
import { BatchVersionConflictError, NotFoundError } from '../src/errors.js';
import type { JobLedger } from '../src/jobledger.js';
import { AuditEntity, EventEntity, StateEntryEntity, StateTransitionEntity } from '../src/store/entities/index.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';

const size = 200;

/** Everything the state writes left under `namespace`, keyed and stripped of ids, times and the namespace itself. */
async function rowsOf(jl: JobLedger, namespace: string) {
  return jl.ledger.readEntities(async (em) => {
    const entries = await em.find(StateEntryEntity, { namespace }, { orderBy: { key: 'asc' } });
    const transitions = await em.find(StateTransitionEntity, { namespace }, { orderBy: { key: 'asc', versionAfter: 'asc' } });
    const events = await em.find(EventEntity, { subjectType: 'state', subjectId: { $like: `${namespace}/%` } }, { orderBy: { subjectId: 'asc', seq: 'asc' } });
    const audit = await em.find(AuditEntity, { subjectType: 'state', subjectId: { $like: `${namespace}/%` } }, { orderBy: { subjectId: 'asc', createdAt: 'asc' } });
    const local = (subjectId: string | null) => subjectId!.slice(namespace.length + 1);
    return {
      entries: entries.map((e) => ({ key: e.key, status: e.status, data: e.data, version: e.version, deleted: e.deletedAt !== null })),
      transitions: transitions.map(({ id: _id, createdAt: _at, namespace: _ns, ...t }) => t),
      events: events.map((e) => {
        const { transitionId, ...payload } = e.payload as { transitionId: string };
        return { subject: local(e.subjectId), seq: e.seq, type: e.type, payload, actor: e.actor, transition: typeof transitionId };
      }),
      audit: audit
        .map((a) => ({ subject: local(a.subjectId), action: a.action, changes: a.changes, actor: a.actor, reason: a.reason }))
        .sort((a, b) => (a.subject === b.subject ? versionAfter(a.changes) - versionAfter(b.changes) : a.subject < b.subject ? -1 : 1)),
    };
  });
}

function versionAfter(changes: unknown): number {
  return Number((changes as { version?: { after?: number } } | null)?.version?.after);
}

async function stateCounts(jl: JobLedger) {
  return jl.ledger.read(async (sql) => {
    const [row] = await sql.all(
      `SELECT (SELECT COUNT(*) FROM state_transitions) AS transitions, (SELECT COUNT(*) FROM events WHERE subject_type = 'state') AS events,
              (SELECT SUM(version) FROM state_entries) AS versions, (SELECT COUNT(*) FROM audit) AS audit`,
    );
    return { transitions: Number(row!.transitions), events: Number(row!.events), versions: Number(row!.versions), audit: Number(row!.audit) };
  });
}

describe.each(backends)('set-based state batches on %s', (dialect) => {
  it('leave the rows that the same changes made one by one leave, and a conflict writes nothing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [], env: { JOBLEDGER_STATE_HOT: 'false' } });
    const key = (i: number) => `k${String(i).padStart(4, '0')}`;
    // The same starting point in both namespaces: a third of the keys exist, some soft-deleted, one
    // whose row was removed underneath (its history stays: a new entry must start above it).
    const both = ['batch', 'single'];
    const seeds = both.flatMap((ns) => Array.from({ length: size / 3 }, (_, i) => ({ namespace: ns, key: key(i * 3), data: { seed: i }, status: i % 2 ? 'odd' : 'even' })));
    await jl.state.setMany([...seeds, ...both.map((ns) => ({ namespace: ns, key: 'removed', data: { gone: true } }))]);
    await jl.state.setMany(both.map((ns) => ({ namespace: ns, key: 'removed', data: { gone: 'twice' } })));
    await jl.state.deleteMany(both.flatMap((ns) => Array.from({ length: size / 30 }, (_, i) => ({ namespace: ns, key: key(i * 30) }))));
    await jl.ledger.transaction((sql) => sql.run(`DELETE FROM state_entries WHERE key = 'removed'`));
    const items = (ns: string) => [
      ...Array.from({ length: size }, (_, i) => ({
        namespace: ns,
        key: key(size - 1 - i),
        data: { n: size - 1 - i, nested: { list: [i, 'x'], quote: "it's" } },
        ...(i % 7 === 0 ? { status: 'fresh' } : {}),
        ...(i % 11 === 0 ? { reason: `r${i}` } : {}),
      })),
      { namespace: ns, key: 'removed', data: null },
    ];

    const batch = await jl.state.setMany(items('batch'), { actor: 'importer' });
    const single = [];
    for (const item of items('single')) {
      const { namespace, key: k, data, ...options } = item;
      single.push(await jl.state.set(namespace, k, data, { ...options, actor: 'importer' }));
    }
    // Results in the caller's order, as one by one.
    expect(batch.map((e) => [e.key, e.version, e.status, e.data])).toEqual(single.map((e) => [e.key, e.version, e.status, e.data]));
    expect(batch.find((e) => e.key === 'removed')?.version).toBe(3);

    const deletions = (ns: string) => Array.from({ length: size / 2 }, (_, i) => ({ namespace: ns, key: key(i * 2), ...(i % 5 === 0 ? { reason: 'tidy' } : {}) }));
    await jl.state.deleteMany(deletions('batch'), { actor: 'cleaner' });
    for (const { namespace, key: k, ...options } of deletions('single')) await jl.state.delete(namespace, k, { ...options, actor: 'cleaner' });

    const [fromBatch, fromSingle] = [await rowsOf(jl, 'batch'), await rowsOf(jl, 'single')];
    expect(fromBatch.entries).toHaveLength(size + 1);
    expect(fromBatch.transitions.length).toBeGreaterThan(size * 1.5);
    expect(fromBatch).toEqual(fromSingle);

    // Conflicts on three keys: rejected whole, each named, nothing written.
    const before = await stateCounts(jl);
    const stale = Array.from({ length: size }, (_, i) => ({ namespace: 'batch', key: key(i), data: i, ...(i % 80 === 1 ? { expectedVersion: 5 } : {}) }));
    const rejected = await jl.state.setMany(stale).catch((e: unknown) => e);
    expect(rejected).toBeInstanceOf(BatchVersionConflictError);
    expect((rejected as BatchVersionConflictError).conflicts.map((c) => c.subject)).toEqual(['batch/k0001', 'batch/k0081', 'batch/k0161']);
    // A deletion of an entry that is not live rejects a delete batch the same way.
    await expect(jl.state.deleteMany([...deletions('batch').slice(1).map((d) => ({ ...d, key: key(Number(d.key.slice(1)) + 1) })), { namespace: 'batch', key: key(0) }])).rejects.toBeInstanceOf(NotFoundError);
    expect(await stateCounts(jl)).toEqual(before);
    await jl.close();
  });
});
