/**
 * Following the event log across processes: `jobledger events --follow --json` in a child process,
 * killed mid-stream and started again after the last event it printed, misses no event and prints
 * none twice, while a worker and producers write events around it; each subject's events arrive in
 * their order. In-process, `jl.subscribe` resumes from an event id, filters by type, and passes no
 * event still to commit: a transaction held open while later events commit is delivered once it
 * commits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import type { EventRow } from '../src/store/index.js';
import { backends } from './support/backends.js';
import { configEnv, openSharedJobLedger } from './support/child-worker.js';
import { waitFor, waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));

interface Follower {
  child: ChildProcess;
  /** Complete lines printed so far, parsed. */
  events: EventRow[];
  exited: Promise<unknown>;
}

function startFollower(config: Readonly<Config>, after: string): Follower {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [bin, 'events', '--follow', '--json', '--after', after], {
    env: { ...inherited, ...configEnv(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: EventRow[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => events.push(JSON.parse(line) as EventRow));
  const exited = once(child, 'exit');
  const tracked = track(
    {
      close: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    },
    `follower ${child.pid}`,
  );
  // A process that has exited holds nothing open.
  void exited.then(() => tracked.close());
  return { child, events, exited };
}

async function produce(jl: Awaited<ReturnType<typeof openSharedJobLedger>>['jl'], count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const action = i % 3 === 0 ? { action: 'fail-until', succeedOnAttempt: 2 } : { action: 'succeed' };
    ids.push((await jl.enqueue('test.scripted', action)).id);
  }
  return ids;
}

describe.each(backends)('following the event log on %s', (dialect) => {
  it('a follower killed and started again after its last event misses none and repeats none', async () => {
    const { config, jl } = await openSharedJobLedger(dialect);
    const anchorJob = await jl.enqueue('test.scripted', { action: 'succeed' });
    const [anchor] = await jl.ledger.listEvents({ subjectId: anchorJob.id });
    const worker = jl.createWorker({ concurrency: 4 });
    await worker.start();

    const first = startFollower(config, anchor!.id);
    const jobs = await produce(jl, 15);
    await waitFor(() => Promise.resolve(first.events.length >= 10 ? true : undefined), 'the first follower printing events');
    first.child.kill('SIGKILL');
    await first.exited;
    const seenByFirst = [...first.events];

    // Events keep coming while no follower runs: an operator's cancel (written through the ORM) among them.
    jobs.push(...(await produce(jl, 10)));
    const cancelled = (await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 60_000 })).id;
    await jl.cancel({ jobId: cancelled, reason: 'test' });
    const second = startFollower(config, seenByFirst.at(-1)!.id);
    jobs.push(...(await produce(jl, 10)));
    for (const id of [anchorJob.id, ...jobs]) await waitForStatus(jl, id, 'completed');

    const all = await jl.ledger.listEvents({ limit: 10_000 });
    const expected = new Set(all.map((e) => e.id).filter((id) => id !== anchor!.id));
    await waitFor(() => Promise.resolve(seenByFirst.length + second.events.length >= expected.size ? true : undefined), `${expected.size} events followed`);
    second.child.kill('SIGTERM');
    await second.exited;

    const followed = [...seenByFirst, ...second.events];
    const ids = followed.map((e) => e.id);
    expect(new Set(ids).size, 'no event twice').toBe(ids.length);
    expect(new Set(ids)).toEqual(expected);
    expect(followed.some((e) => e.type === 'job.cancelled' && e.subjectId === cancelled)).toBe(true);
    // Each subject's events in the order they happened.
    const lastSeq = new Map<string, number>();
    for (const e of followed) {
      expect(e.seq, `${e.subjectId} ${e.type}`).toBeGreaterThan(lastSeq.get(e.subjectId) ?? 0);
      lastSeq.set(e.subjectId, e.seq);
    }
    await jl.close();
  });

  it('subscribe resumes after an event id, filters by type, and rejects an unknown start', async () => {
    const { jl } = await openSharedJobLedger(dialect);
    const first = await jl.enqueue('test.scripted', { action: 'succeed' });
    const [firstEvent] = await jl.ledger.listEvents({ subjectId: first.id });
    const later = [await jl.enqueue('test.scripted', { action: 'succeed' }), await jl.enqueue('test.scripted', { action: 'succeed' })];
    const seen: EventRow[] = [];
    const subscription = await jl.subscribe({ after: firstEvent!.id, types: ['job.enqueued'], pollIntervalMs: 50 }, (e) => void seen.push(e));
    await waitFor(() => Promise.resolve(seen.length >= 2 ? true : undefined), 'the two later enqueues');
    expect(seen.map((e) => e.subjectId)).toEqual(later.map((j) => j.id));
    expect(subscription.lastEventId).toBe(seen[1]!.id);
    await subscription.close();
    await expect(jl.subscribe({ after: 'evt_01JZZZZZZZZZZZZZZZZZZZZZZZ' }, () => undefined)).rejects.toMatchObject({ code: 'JOBLEDGER_NOT_FOUND' });
    await expect(jl.subscribe({ types: ['job.nope'] }, () => undefined)).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    await jl.close();
  });
});

describe('following the event log on postgresql', () => {
  it('passes no event of a transaction still open: its events come once it commits, before what committed behind it', async () => {
    const { jl } = await openSharedJobLedger('postgresql');
    const seen: EventRow[] = [];
    const subscription = await jl.subscribe({ types: ['job.enqueued'], pollIntervalMs: 20 }, (e) => void seen.push(e));
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inserted!: () => void;
    const insertedInside = new Promise<void>((resolve) => (inserted = resolve));
    // The transaction's event gets its id (a ULID, by the clock) first, and commits last.
    const early = jl.transaction(jl.ledger.orm.em.fork(), async (tx) => {
      const job = await tx.enqueue('test.scripted', { action: 'succeed' });
      inserted();
      await held;
      return job;
    });
    await insertedInside;
    const late = await jl.enqueue('test.scripted', { action: 'succeed' });
    // A follower going by id would deliver `late` now and pass the early event for good.
    await waitFor(async () => ((await jl.ledger.listEvents({ subjectId: late.id })).length ? true : undefined), 'the later enqueue committed');
    release();
    const earlyJob = await early;
    await waitFor(() => Promise.resolve(seen.length >= 2 ? true : undefined), 'both enqueues followed');
    expect(seen.map((e) => e.subjectId)).toEqual([earlyJob.id, late.id]);
    expect(seen[0]!.id < seen[1]!.id).toBe(true);
    await subscription.close();
    await jl.close();
  });
});
