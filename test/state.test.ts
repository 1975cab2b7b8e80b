import type { Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { DatabaseError, InvalidOptionError, NotFoundError, VersionConflictError } from '../src/errors.js';
import type { JobLedger } from '../src/jobledger.js';
import { serializeErrorForLog } from '../src/log-redaction.js';
import { StateTransitionEntity } from '../src/store/entities/index.js';
import { newId } from '../src/store/ids.js';
import { stateTransaction } from '../src/store/state/state-em.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';

/** Row counts of the state tables and of state events: a rejected call must leave them alone. */
async function counts(jl: JobLedger) {
  return jl.ledger.read(async (sql) => {
    const [row] = await sql.all(
      `SELECT (SELECT COUNT(*) FROM state_entries) AS entries, (SELECT COUNT(*) FROM state_transitions) AS transitions,
              (SELECT COUNT(*) FROM events WHERE subject_type = 'state') AS events`,
    );
    return { entries: Number(row!.entries), transitions: Number(row!.transitions), events: Number(row!.events) };
  });
}

function stateEvents(jl: JobLedger, subjectId: string) {
  return jl.ledger.listEvents({ subjectType: 'state', subjectId, limit: 1000 }).then((events) => events.sort((a, b) => a.seq - b.seq));
}

describe.each(backends)('keyed state on %s', (dialect) => {
  it('sets, gets and updates an entry, bumping its version each time', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const created = await jl.state.set('orders', 'ord-1', { total: 10, items: ['a'] }, { reason: 'first', actor: 'alice' });
    expect(created).toMatchObject({ namespace: 'orders', key: 'ord-1', status: 'active', version: 1, data: { total: 10, items: ['a'] }, deletedAt: null });
    expect(await jl.state.get('orders', 'ord-1')).toEqual(created);

    const updated = await jl.state.set('orders', 'ord-1', { total: 12, items: ['a', 'b'] }, { status: 'open', expectedVersion: 1 });
    expect(updated).toMatchObject({ version: 2, status: 'open', data: { total: 12, items: ['a', 'b'] } });
    expect(updated.createdAt).toBe(created.createdAt);

    // Without a status, set keeps the current one; updateStatus keeps the data.
    expect(await jl.state.set('orders', 'ord-1', { total: 13 })).toMatchObject({ version: 3, status: 'open' });
    expect(await jl.state.updateStatus('orders', 'ord-1', 'paid', { reason: 'card charged' })).toMatchObject({
      version: 4,
      status: 'paid',
      data: { total: 13 },
    });

    await expect(jl.state.get('orders', 'nope')).rejects.toSatisfy(
      (e) => e instanceof NotFoundError && e.code === 'JOBLEDGER_NOT_FOUND' && e.message.includes('orders/nope'),
    );
    expect(await jl.state.find('orders', 'nope')).toBeNull();
    await jl.close();
  });

  it('rejects a stale expectedVersion with a typed error and writes nothing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('acct', 'a1', { balance: 1 });
    await jl.state.set('acct', 'a1', { balance: 2 });
    const before = await counts(jl);

    const stale = jl.state.set('acct', 'a1', { balance: 99 }, { expectedVersion: 1 });
    await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
    await expect(stale).rejects.toMatchObject({ code: 'JOBLEDGER_VERSION_CONFLICT', expectedVersion: 1, actualVersion: 2 });
    await expect(jl.state.updateStatus('acct', 'a1', 'frozen', { expectedVersion: 3 })).rejects.toBeInstanceOf(VersionConflictError);
    await expect(jl.state.delete('acct', 'a1', { expectedVersion: 1 })).rejects.toBeInstanceOf(VersionConflictError);
    await expect(jl.state.set('acct', 'missing', { balance: 0 }, { expectedVersion: 1 })).rejects.toMatchObject({
      name: 'VersionConflictError',
      actualVersion: null,
    });

    expect(await counts(jl)).toEqual(before);
    expect(await jl.state.get('acct', 'a1')).toMatchObject({ version: 2, data: { balance: 2 } });
    await jl.close();
  });

  it('expectedVersion 0 means "must not exist": creates once, conflicts after, and accepts a soft-deleted entry', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    expect(await jl.state.set('locks', 'l1', { owner: 'a' }, { expectedVersion: 0 })).toMatchObject({ version: 1 });
    await expect(jl.state.set('locks', 'l1', { owner: 'b' }, { expectedVersion: 0 })).rejects.toMatchObject({
      name: 'VersionConflictError',
      expectedVersion: 0,
      actualVersion: 1,
    });
    await jl.state.delete('locks', 'l1');
    expect(await jl.state.set('locks', 'l1', { owner: 'c' }, { expectedVersion: 0 })).toMatchObject({ version: 3, data: { owner: 'c' }, deletedAt: null });

    // Racing creators: exactly one wins, the others get the typed conflict.
    const racers = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => jl.state.set('locks', 'race', { owner: i }, { expectedVersion: 0 })),
    );
    expect(racers.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of racers.filter((r) => r.status === 'rejected')) expect(r.reason).toBeInstanceOf(VersionConflictError);
    expect(await jl.state.history('locks', 'race')).toHaveLength(1);
    await jl.close();
  });

  it('unconditional sets racing on one key all land, each as its own version', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await Promise.all(Array.from({ length: 8 }, (_, i) => jl.state.set('counters', 'c', { writer: i })));
    const entry = await jl.state.get('counters', 'c');
    expect(entry.version).toBe(8);
    const history = await jl.state.history('counters', 'c');
    expect(history.map((t) => t.versionAfter)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(history.map((t) => t.versionBefore)).toEqual([null, 1, 2, 3, 4, 5, 6, 7]);
    // Each transition's before is the previous one's after: no write was lost unseen.
    for (let i = 1; i < history.length; i++) expect(history[i]!.dataBefore).toEqual(history[i - 1]!.dataAfter);
    await jl.close();
  });

  it('soft-deletes: hidden from get and list, kept with its history, and brought back by set', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('users', 'u1', { name: 'Ann' });
    const deleted = await jl.state.delete('users', 'u1', { reason: 'gdpr request', actor: 'bob' });
    expect(deleted.deletedAt).not.toBeNull();
    expect(deleted).toMatchObject({ version: 2, data: { name: 'Ann' } });

    await expect(jl.state.get('users', 'u1')).rejects.toBeInstanceOf(NotFoundError);
    expect(await jl.state.get('users', 'u1', { includeDeleted: true })).toEqual(deleted);
    expect(await jl.state.list('users')).toEqual([]);
    expect(await jl.state.list('users', { includeDeleted: true })).toHaveLength(1);
    // A deleted entry cannot be deleted again or have its status changed.
    await expect(jl.state.delete('users', 'u1')).rejects.toBeInstanceOf(NotFoundError);
    await expect(jl.state.updateStatus('users', 'u1', 'x')).rejects.toBeInstanceOf(NotFoundError);

    const back = await jl.state.set('users', 'u1', { name: 'Ann B.' });
    expect(back).toMatchObject({ version: 3, deletedAt: null, data: { name: 'Ann B.' } });
    const history = await jl.state.history('users', 'u1');
    expect(history.map((t) => t.change)).toEqual(['created', 'deleted', 'undeleted']);
    expect(history[1]).toMatchObject({ reason: 'gdpr request', actor: 'bob', dataBefore: { name: 'Ann' }, dataAfter: { name: 'Ann' } });
    await jl.close();
  });

  it('lists a namespace by key prefix, taking "%" and "_" literally and case into account', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const keys = ['50%/a', '50%/b', '50x/a', '5000', 'a_b', 'aXb', 'A_b', 'back\\slash', 'backslash', 'café/1', 'cafe/1', 'CAFÉ/2'];
    for (const key of keys) await jl.state.set('ns', key, { key });
    await jl.state.set('other', '50%/c', {});

    const names = async (prefix: string) => (await jl.state.list('ns', { prefix })).map((e) => e.key);
    expect(await names('50%')).toEqual(['50%/a', '50%/b']);
    expect(await names('50')).toEqual(['50%/a', '50%/b', '5000', '50x/a']);
    expect(await names('a_')).toEqual(['a_b']);
    expect(await names('A')).toEqual(['A_b']);
    expect(await names('back\\')).toEqual(['back\\slash']);
    expect(await names('café')).toEqual(['café/1']);
    expect(await names('caf')).toEqual(['cafe/1', 'café/1']);
    expect(await names('zzz')).toEqual([]);
    expect(await jl.state.list('ns')).toHaveLength(keys.length);

    // Paging: a limit and the last key of the previous page.
    const first = await jl.state.list('ns', { prefix: '50', limit: 2 });
    const second = await jl.state.list('ns', { prefix: '50', limit: 2, afterKey: first.at(-1)!.key });
    expect([...first, ...second].map((e) => e.key)).toEqual(['50%/a', '50%/b', '5000', '50x/a']);
    await jl.close();
  });

  it('binds the prefix filter\'s values instead of writing them into the statement', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('ns', "it's_50%", { ok: true });
    const knex = (jl.ledger.orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
    const queries: { sql: string; bindings: unknown[] }[] = [];
    const listener = (data: { sql: string; bindings?: unknown[] }) => queries.push({ sql: data.sql, bindings: data.bindings ?? [] });
    knex.on('query', listener);
    try {
      expect((await jl.state.list('ns', { prefix: "it's_5", afterKey: 'a' })).map((e) => e.key)).toEqual(["it's_50%"]);
    } finally {
      knex.removeListener('query', listener);
    }
    const select = queries.find((q) => q.sql.includes('LIKE'));
    expect(select, 'the listing statement').toBeDefined();
    expect(select!.sql).not.toContain("it's");
    expect(select!.bindings).toEqual(expect.arrayContaining(['ns', "it\'s\\_5%", "it's_5", 'a']));
    await jl.close();
  });

  it('keeps keys and data with quotes, question marks, backslashes and placeholders exactly as given', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const keys = ["o'brien", 'what?', '$1', 'back\\', '\\?', "'; DROP TABLE state_entries; --", '::jsonb', '??'];
    for (const key of keys) {
      const data = { key, text: `${key} ? $1 \\' "` };
      const created = await jl.state.set('odd', key, data);
      expect(created).toMatchObject({ key, version: 1, data });
      expect(await jl.state.get('odd', key)).toMatchObject({ key, data });
      expect(await jl.state.updateStatus('odd', key, 'checked', { expectedVersion: 1, reason: key })).toMatchObject({ version: 2, data });
      expect((await jl.state.list('odd', { prefix: key })).map((e) => e.key)).toEqual([key]);
      expect((await jl.state.history('odd', key)).map((t) => [t.versionAfter, t.reason])).toEqual([
        [1, null],
        [2, key],
      ]);
      const snapshot = await jl.state.snapshot('odd', key, { description: key });
      expect(await jl.state.getSnapshot(snapshot.id)).toMatchObject({ subjectId: `odd/${key}`, description: key, data });
      expect(await jl.state.restoreSnapshot(snapshot.id, { expectedVersion: 2 })).toMatchObject({ version: 3, data });
    }
    expect((await jl.state.getMany(keys.map((key) => ({ namespace: 'odd', key })))).map((e) => e?.key)).toEqual(keys);
    expect(await jl.state.list('odd')).toHaveLength(keys.length);
    await jl.close();
  });

  it('batches get, set and delete in one transaction: one conflict rejects the whole batch', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const set = await jl.state.setMany(
      [
        { namespace: 'b', key: 'k1', data: 1 },
        { namespace: 'b', key: 'k2', data: 2, status: 'ready' },
        { namespace: 'c', key: 'k1', data: 3, reason: 'seed' },
      ],
      { actor: 'importer' },
    );
    expect(set.map((e) => [e.namespace, e.key, e.version, e.data])).toEqual([
      ['b', 'k1', 1, 1],
      ['b', 'k2', 1, 2],
      ['c', 'k1', 1, 3],
    ]);
    const got = await jl.state.getMany([
      { namespace: 'c', key: 'k1' },
      { namespace: 'b', key: 'absent' },
      { namespace: 'b', key: 'k2' },
    ]);
    expect(got.map((e) => e?.data ?? null)).toEqual([3, null, 2]);

    const before = await counts(jl);
    // The second item conflicts: the first (valid on its own) and the third are not written either.
    await expect(
      jl.state.setMany([
        { namespace: 'b', key: 'k1', data: 10, expectedVersion: 1 },
        { namespace: 'b', key: 'k2', data: 20, expectedVersion: 7 },
        { namespace: 'b', key: 'k3', data: 30 },
      ]),
    ).rejects.toBeInstanceOf(VersionConflictError);
    // A missing entry fails a delete batch the same way.
    await expect(
      jl.state.deleteMany([
        { namespace: 'b', key: 'k1' },
        { namespace: 'b', key: 'absent' },
      ]),
    ).rejects.toBeInstanceOf(NotFoundError);
    // A malformed item is refused before anything is written.
    await expect(
      jl.state.setMany([
        { namespace: 'b', key: 'k1', data: 11 },
        { namespace: 'b', key: 'k2', data: { big: 10n } },
      ]),
    ).rejects.toBeInstanceOf(InvalidOptionError);
    expect(await counts(jl)).toEqual(before);
    expect((await jl.state.getMany([{ namespace: 'b', key: 'k1' }, { namespace: 'b', key: 'k3' }])).map((e) => e?.version ?? null)).toEqual([1, null]);

    const deleted = await jl.state.deleteMany([{ namespace: 'b', key: 'k1' }, { namespace: 'b', key: 'k2', expectedVersion: 1 }], { actor: 'cleaner' });
    expect(deleted.map((e) => e.deletedAt !== null)).toEqual([true, true]);
    expect(await jl.state.list('b')).toEqual([]);
    await jl.close();
  });

  it('keeps one transition row per change, oldest first, with before, after, reason and actor', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('docs', 'd1', { v: 1 }, { actor: 'alice', reason: 'draft' });
    await jl.state.set('docs', 'd1', { v: 2 }, { actor: 'bob' });
    await jl.state.updateStatus('docs', 'd1', 'published', { actor: 'carol', reason: 'approved' });
    await jl.state.delete('docs', 'd1', { actor: 'dave' });

    const history = await jl.state.history('docs', 'd1');
    expect(history.map((t) => ({ ...t, id: t.id.slice(0, 4), createdAt: typeof t.createdAt }))).toEqual([
      { id: 'stt_', namespace: 'docs', key: 'd1', change: 'created', versionBefore: null, versionAfter: 1, statusBefore: null, statusAfter: 'active', dataBefore: null, dataAfter: { v: 1 }, reason: 'draft', actor: 'alice', jobId: null, snapshotId: null, createdAt: 'number' },
      { id: 'stt_', namespace: 'docs', key: 'd1', change: 'updated', versionBefore: 1, versionAfter: 2, statusBefore: 'active', statusAfter: 'active', dataBefore: { v: 1 }, dataAfter: { v: 2 }, reason: null, actor: 'bob', jobId: null, snapshotId: null, createdAt: 'number' },
      { id: 'stt_', namespace: 'docs', key: 'd1', change: 'status_changed', versionBefore: 2, versionAfter: 3, statusBefore: 'active', statusAfter: 'published', dataBefore: { v: 2 }, dataAfter: { v: 2 }, reason: 'approved', actor: 'carol', jobId: null, snapshotId: null, createdAt: 'number' },
      { id: 'stt_', namespace: 'docs', key: 'd1', change: 'deleted', versionBefore: 3, versionAfter: 4, statusBefore: 'published', statusAfter: 'published', dataBefore: { v: 2 }, dataAfter: { v: 2 }, reason: null, actor: 'dave', jobId: null, snapshotId: null, createdAt: 'number' },
    ]);
    expect(await jl.state.history('docs', 'd1', { afterVersion: 2 })).toHaveLength(2);
    expect(await jl.state.history('docs', 'never')).toEqual([]);
    await jl.close();
  });

  it('appends one state event per change, its seq the version after the change', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('ev', 'k', { a: 1 }, { actor: 'alice' });
    await jl.state.updateStatus('ev', 'k', 'done', { reason: 'finished' });
    await jl.state.delete('ev', 'k');
    const last = await jl.state.set('ev', 'k', { a: 2 });
    await jl.state.set('ev', 'other', {});

    const events = await stateEvents(jl, 'ev/k');
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'state.created'],
      [2, 'state.status_changed'],
      [3, 'state.deleted'],
      [4, 'state.undeleted'],
    ]);
    expect(last.version).toBe(4);
    expect(events[0]).toMatchObject({ actor: 'alice', subjectType: 'state', payload: { versionBefore: null, status: 'active' } });
    expect(events[1]!.payload).toMatchObject({ statusBefore: 'active', status: 'done', reason: 'finished', versionBefore: 1 });
    const transitions = await jl.state.history('ev', 'k');
    expect(events.map((e) => (e.payload as { transitionId: string }).transitionId)).toEqual(transitions.map((t) => t.id));
    expect((await stateEvents(jl, 'ev/other')).map((e) => e.seq)).toEqual([1]);
    await jl.close();
  });

  it('a statement the database refuses through the unit of work is a coded DatabaseError, logged without its values', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const secret = 'hunter2-s3cr3t';
    await jl.state.set('keys', 'k', { ok: true });
    const [first] = await jl.state.history('keys', 'k');
    // A second transition for version 1: the unique (namespace, key, version_after) refuses it.
    const error = await stateTransaction(jl.ledger, async (em) => {
      em.persist(em.create(StateTransitionEntity, { ...first!, id: newId('stt'), reason: secret, dataAfter: { secret } }));
      await em.flush();
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).not.toContain(secret);
    expect(JSON.stringify(serializeErrorForLog(error))).not.toContain(secret);
    expect(await jl.state.history('keys', 'k')).toHaveLength(1);
    await jl.close();
  });

  it('refuses malformed names, statuses, versions and data with typed errors before writing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bad: [string, Promise<unknown>][] = [
      ['namespace', jl.state.set('has/slash', 'k', 1)],
      ['namespace', jl.state.set('', 'k', 1)],
      ['key', jl.state.set('ns', '', 1)],
      ['key', jl.state.set('ns', 'x'.repeat(129), 1)],
      ['key', jl.state.set('ns', 'tab\there', 1)],
      ['status', jl.state.set('ns', 'k', 1, { status: 'has space' })],
      ['expectedVersion', jl.state.set('ns', 'k', 1, { expectedVersion: -1 })],
      ['data', jl.state.set('ns', 'k', undefined)],
      ['data.n', jl.state.set('ns', 'k', { n: Number.NaN })],
      ['data.when', jl.state.set('ns', 'k', { when: new Date() })],
      ['data.self', jl.state.set('ns', 'k', circular)],
      ['data[1]', jl.state.set('ns', 'k', [1, () => 2])],
    ];
    for (const [option, call] of bad) {
      await expect(call, option).rejects.toSatisfy((e) => e instanceof InvalidOptionError && e.option === option);
    }
    expect(await counts(jl)).toEqual({ entries: 0, transitions: 0, events: 0 });
    // The stored copy is taken at the call: mutating the object afterwards changes nothing.
    const data = { n: 1 };
    const pending = jl.state.set('ns', 'copy', data);
    data.n = 2;
    expect((await pending).data).toEqual({ n: 1 });
    await jl.close();
  });
});
