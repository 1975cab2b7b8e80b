import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChecksumMismatchError, InvalidIdError, InvalidOptionError, NotFoundError } from '../src/errors.js';
import type { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/ids.js';
import { canonicalJson, insertSnapshot } from '../src/store/state/snapshots.js';
import { rotateSnapshots } from '../src/store/state/snapshot-rotation.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

async function counts(jl: JobLedger) {
  return jl.ledger.read(async (sql) => {
    const [row] = await sql.all(
      `SELECT (SELECT COUNT(*) FROM state_transitions) AS transitions, (SELECT COUNT(*) FROM events) AS events,
              (SELECT COUNT(*) FROM snapshots) AS snapshots`,
    );
    return { transitions: Number(row!.transitions), events: Number(row!.events), snapshots: Number(row!.snapshots) };
  });
}

/** Sets a snapshot's created_at (and optionally expires_at) with a plain UPDATE, instead of sleeping. */
async function backdate(jl: JobLedger, id: string, createdAt: number, expiresAt?: number | null) {
  await jl.ledger.transaction((sql) =>
    expiresAt === undefined
      ? sql.run('UPDATE snapshots SET created_at = ? WHERE id = ?', [createdAt, id])
      : sql.run('UPDATE snapshots SET created_at = ?, expires_at = ? WHERE id = ?', [createdAt, expiresAt, id]),
  );
}

async function remainingIds(jl: JobLedger, subjectId: string) {
  return (await jl.state.listSnapshots({ subjectType: subjectId.startsWith('pip_') ? 'pipeline' : 'state', subjectId, limit: 1000 }))
    .map((s) => s.id)
    .sort();
}

describe.each(backends)('snapshots on %s', (dialect) => {
  it('copies a state entry with a checksum of its canonical JSON, and lists and reads it back', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    // Keys out of order at every level: jsonb (PostgreSQL) reorders them, the checksum must not care.
    const data = { zeta: 1, alpha: [{ d: 2, c: 'x' }], mid: { y: null, b: true, 'é': 1.5 } };
    await jl.state.set('cfg', 'app', data);
    const before = Date.now();
    const snap = await jl.state.snapshot('cfg', 'app', { description: 'before migration', ttlMs: 60_000, actor: 'alice' });
    expect(snap).toMatchObject({ subjectType: 'state', subjectId: 'cfg/app', subjectVersion: 1, data, description: 'before migration', actor: 'alice' });
    expect(snap.id).toMatch(/^snp_/);
    expect(canonicalJson(data)).toBe('{"alpha":[{"c":"x","d":2}],"mid":{"b":true,"y":null,"é":1.5},"zeta":1}');
    expect(snap.checksum).toBe(sha256(canonicalJson(data)));
    expect(snap.expiresAt! - snap.createdAt).toBe(60_000);
    expect(snap.createdAt).toBeGreaterThanOrEqual(before);

    expect(await jl.state.getSnapshot(snap.id)).toEqual(snap);
    await jl.state.set('cfg', 'app', { zeta: 2 });
    const second = await jl.state.snapshot('cfg', 'app');
    expect(second).toMatchObject({ subjectVersion: 2, description: null, expiresAt: null, actor: 'system' });
    await jl.state.set('cfg', 'other', 1);
    await jl.state.snapshot('cfg', 'other');
    expect((await jl.state.listSnapshots({ namespace: 'cfg', key: 'app' })).map((s) => s.id)).toEqual([second.id, snap.id]);
    expect(await jl.state.listSnapshots()).toHaveLength(3);

    await expect(jl.state.getSnapshot(newId('snp'))).rejects.toBeInstanceOf(NotFoundError);
    await expect(jl.state.getSnapshot('snp_nope')).rejects.toBeInstanceOf(InvalidIdError);
    await expect(jl.state.snapshot('cfg', 'absent')).rejects.toBeInstanceOf(NotFoundError);
    await expect(jl.state.snapshot('cfg', 'app', { ttlMs: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
    await expect(jl.state.snapshot('cfg', 'app', { ttlMs: 5, expiresAt: Date.now() })).rejects.toBeInstanceOf(InvalidOptionError);
    await jl.state.delete('cfg', 'other');
    await expect(jl.state.snapshot('cfg', 'other')).rejects.toBeInstanceOf(NotFoundError);
    await jl.close();
  });

  it('restores a snapshot as a new version, recorded as a transition that names the snapshot', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('cfg', 'app', { mode: 'safe', b: 1, a: 2 }, { status: 'live' });
    const snap = await jl.state.snapshot('cfg', 'app');
    await jl.state.set('cfg', 'app', { mode: 'broken' });
    await jl.state.delete('cfg', 'app');

    const restored = await jl.state.restoreSnapshot(snap.id, { reason: 'bad deploy', actor: 'oncall' });
    expect(restored).toMatchObject({ version: 4, data: { mode: 'safe', b: 1, a: 2 }, status: 'live', deletedAt: null });
    const last = (await jl.state.history('cfg', 'app')).at(-1)!;
    expect(last).toMatchObject({
      change: 'restored',
      versionBefore: 3,
      versionAfter: 4,
      snapshotId: snap.id,
      actor: 'oncall',
      dataBefore: { mode: 'broken' },
      dataAfter: { mode: 'safe', b: 1, a: 2 },
    });
    expect(last.reason).toBe(`bad deploy (restored from snapshot ${snap.id} (version 1))`);
    const [event] = await jl.ledger.listEvents({ subjectType: 'state', subjectId: 'cfg/app', type: 'state.restored' });
    expect(event).toMatchObject({ seq: 4, actor: 'oncall', payload: { snapshotId: snap.id, versionBefore: 3 } });

    // Without a reason, the reason still says which snapshot; expectedVersion guards a restore too.
    await expect(jl.state.restoreSnapshot(snap.id, { expectedVersion: 1 })).rejects.toMatchObject({ name: 'VersionConflictError' });
    await jl.state.restoreSnapshot(snap.id, { expectedVersion: 4 });
    expect((await jl.state.history('cfg', 'app')).at(-1)!.reason).toBe(`restored from snapshot ${snap.id} (version 1)`);
    await jl.close();
  });

  it('refuses a snapshot whose stored copy was altered, and restores nothing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.set('cfg', 'app', { limit: 10 });
    const snap = await jl.state.snapshot('cfg', 'app');
    await jl.state.set('cfg', 'app', { limit: 20 });
    await jl.ledger.transaction((sql) => sql.run('UPDATE snapshots SET data = ? WHERE id = ?', [JSON.stringify({ limit: 1_000_000 }), snap.id]));
    const before = await counts(jl);

    const refused = jl.state.restoreSnapshot(snap.id, { reason: 'rollback' });
    await expect(refused).rejects.toBeInstanceOf(ChecksumMismatchError);
    await expect(refused).rejects.toMatchObject({ code: 'JOBLEDGER_CHECKSUM_MISMATCH' });
    await expect(refused).rejects.toThrow(snap.checksum);
    expect(await counts(jl)).toEqual(before);
    expect(await jl.state.get('cfg', 'app')).toMatchObject({ version: 2, data: { limit: 20 } });

    // An altered checksum is caught the same way.
    const other = await jl.state.snapshot('cfg', 'app');
    await jl.ledger.transaction((sql) => sql.run('UPDATE snapshots SET checksum = ? WHERE id = ?', ['0'.repeat(64), other.id]));
    await expect(jl.state.restoreSnapshot(other.id)).rejects.toBeInstanceOf(ChecksumMismatchError);
    expect((await jl.state.get('cfg', 'app')).version).toBe(2);
    await jl.close();
  });

  it('rotation keeps exactly the newest N unexpired snapshots per subject and deletes expired ones', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const now = Date.now();
    const hour = 3_600_000;
    const take = async (key: string, n: number) => {
      await jl.state.set('rot', key, { key });
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await jl.state.snapshot('rot', key)).id);
      return ids;
    };
    // many: 5 snapshots, distinct ages (oldest first).
    const many = await take('many', 5);
    for (const [i, id] of many.entries()) await backdate(jl, id, now - (10 - i) * hour);
    // few: 2 snapshots, fewer than N: all kept.
    const few = await take('few', 2);
    // expiredNewest: 4 snapshots; the newest has expired. It goes as expired and the 3 older stay:
    // expired snapshots never count towards the kept ones, so nothing more is rotated out.
    const expiredNewest = await take('expired-newest', 4);
    for (const [i, id] of expiredNewest.entries()) await backdate(jl, id, now - (10 - i) * hour, i === 3 ? now - 1 : null);
    // expiredMixed: 5 snapshots; the second oldest has expired, another expires in the future.
    const mixed = await take('mixed', 5);
    for (const [i, id] of mixed.entries()) await backdate(jl, id, now - (10 - i) * hour, i === 1 ? now : i === 4 ? now + hour : null);
    // ties: 5 snapshots with the same created_at: the 3 with the highest ids (made last) stay.
    const ties = await take('ties', 5);
    for (const id of ties) await backdate(jl, id, now - hour);
    // A pipeline's snapshots share the table and the rule.
    const pipelineId = newId('pip');
    const pipeline = await jl.ledger.transactionWith(jl.ledger.orm.em.fork(), async (em) => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) ids.push((await insertSnapshot(em, { subjectType: 'pipeline', subjectId: pipelineId, data: { i }, now: now - (10 - i) * hour })).id);
      return ids;
    });

    const result = await rotateSnapshots(jl.ledger, { keepPerSubject: 3, now, limit: 1000 });
    expect(result).toEqual({ expired: 2, rotated: 2 + 1 + 2 + 1 });
    expect(await remainingIds(jl, 'rot/many')).toEqual(many.slice(2).sort());
    expect(await remainingIds(jl, 'rot/few')).toEqual(few.sort());
    expect(await remainingIds(jl, 'rot/expired-newest')).toEqual(expiredNewest.slice(0, 3).sort());
    // mixed: [0] rotated out, [1] expired, [2], [3] and [4] (expires later) kept.
    expect(await remainingIds(jl, 'rot/mixed')).toEqual(mixed.slice(2).sort());
    expect(await remainingIds(jl, 'rot/ties')).toEqual(ties.slice(2).sort());
    expect(await remainingIds(jl, pipelineId)).toEqual(pipeline.slice(1).sort());

    // Running it again deletes nothing more.
    expect(await rotateSnapshots(jl.ledger, { keepPerSubject: 3, now, limit: 1000 })).toEqual({ expired: 0, rotated: 0 });
    // The state entries themselves are untouched.
    expect((await jl.state.list('rot')).map((e) => e.version)).toEqual([1, 1, 1, 1, 1]);
    await jl.close();
  });

  it('rotation deletes at most `limit` per call, expired first, then the oldest excess; calls converge', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const now = Date.now();
    await jl.state.set('lim', 'k', 1);
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) ids.push((await jl.state.snapshot('lim', 'k')).id);
    for (const [i, id] of ids.entries()) await backdate(jl, id, now - (100 - i) * 1000, i === 7 ? now - 5 : null);

    expect(await rotateSnapshots(jl.ledger, { keepPerSubject: 2, now, limit: 3 })).toEqual({ expired: 1, rotated: 2 });
    expect(await remainingIds(jl, 'lim/k')).toEqual(ids.slice(2, 7).sort());
    expect(await rotateSnapshots(jl.ledger, { keepPerSubject: 2, now, limit: 3 })).toEqual({ expired: 0, rotated: 3 });
    expect(await remainingIds(jl, 'lim/k')).toEqual(ids.slice(5, 7).sort());
    expect(await rotateSnapshots(jl.ledger, { keepPerSubject: 2, now, limit: 3 })).toEqual({ expired: 0, rotated: 0 });

    for (const bad of [{ keepPerSubject: 0, now, limit: 1 }, { keepPerSubject: 1, now, limit: 0 }, { keepPerSubject: 1.5, now, limit: 1 }]) {
      await expect(rotateSnapshots(jl.ledger, bad)).rejects.toBeInstanceOf(InvalidOptionError);
    }
    expect(await remainingIds(jl, 'lim/k')).toHaveLength(2);
    await jl.close();
  });
});
