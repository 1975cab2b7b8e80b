/**
 * Group commit: writes of the same event-loop turn share a transaction, yet each caller still
 * learns its own result only after that transaction committed, a failing write fails only itself,
 * and fencing holds inside a batch.
 */
import { describe, expect, it } from 'vitest';
import { createFastExecutor } from '../src/store/engine/open-executor.js';
import { GroupCommitter, type BatchedWrite } from '../src/store/engine/group-commit.js';
import { newId } from '../src/store/ids.js';
import { backends } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

const worker = { workerId: 'w', host: 'h', pid: 1 };

describe('the group committer', () => {
  it('resolves a write only after the batch holding it committed', async () => {
    const order: string[] = [];
    const committer = new GroupCommitter(async (work) => {
      const result = await work({ dialect: 'sqlite', all: () => Promise.resolve([]), run: () => Promise.resolve(1) });
      order.push('committed');
      return result;
    });
    await Promise.all([1, 2, 3].map((n) => committer.submit(() => Promise.resolve(n)).then(() => order.push(`resolved ${n}`))));
    expect(order).toEqual(['committed', 'resolved 1', 'resolved 2', 'resolved 3']);
    expect(committer.stats).toMatchObject({ batches: 1, writes: 3 });
  });

  it('lets the I/O of the turn after a commit join the next batch', async () => {
    const batches: number[][] = [];
    const committer = new GroupCommitter(async (work) => {
      const batch: number[] = [];
      batches.push(batch);
      return work({ dialect: 'sqlite', all: () => Promise.resolve([]), run: () => Promise.resolve(batch.length) });
    });
    const write = (n: number) =>
      committer.submit((sql) => {
        batches.at(-1)!.push(n);
        return sql.run('');
      });
    let late: Promise<number> | undefined;
    await write(1).then(() => {
      // What a commit's caller does next: one write at once (a handler's outcome), and one that
      // waits for I/O first (a start, once Redis has handed the next job over).
      const soon = write(2);
      late = new Promise((resolve) => setImmediate(() => resolve(write(3))));
      return soon;
    });
    await late;
    expect(batches).toEqual([[1], [2, 3]]);
  });

  const fakeSql = { dialect: 'postgresql', all: () => Promise.resolve([]), run: () => Promise.resolve(1) } as const;
  /** A kind whose statement alone takes the even inputs (or throws), leaving the rest to the transaction. */
  const halves = (alone: 'evens' | 'throws') => {
    const calls = { alone: [] as number[][], all: [] as number[][] };
    const kind: BatchedWrite<number, string> = {
      runAll: (_sql, inputs) => {
        calls.all.push([...inputs]);
        return Promise.resolve(inputs.map((n) => `tx ${n}`));
      },
      runAlone: (_sql, inputs) => {
        calls.alone.push([...inputs]);
        if (alone === 'throws') return Promise.reject(new Error('statement failed'));
        return Promise.resolve(inputs.map((n) => (n % 2 === 0 ? `alone ${n}` : undefined)));
      },
    };
    return { kind, calls };
  };
  const committerWithAlone = (phases: string[]) =>
    new GroupCommitter(
      (work) => {
        phases.push('transaction');
        return work(fakeSql);
      },
      {
        runAlone: (work) => {
          phases.push('alone');
          return work(fakeSql);
        },
      },
    );

  it('commits what a statement alone can take and the rest in the transaction', async () => {
    const phases: string[] = [];
    const committer = committerWithAlone(phases);
    const { kind, calls } = halves('evens');
    const results = await Promise.all([1, 2, 3, 4].map((n) => committer.submitBatched(kind, n)));
    expect(results).toEqual(['tx 1', 'alone 2', 'tx 3', 'alone 4']);
    expect(calls).toEqual({ alone: [[1, 2, 3, 4]], all: [[1, 3]] });
    expect(phases).toEqual(['alone', 'transaction']);
    expect(committer.stats).toMatchObject({ batches: 1, writes: 4, aloneWrites: 2, aloneFailures: 0 });
  });

  it('sends every write of a failed statement alone through the transaction', async () => {
    const committer = committerWithAlone([]);
    const { kind, calls } = halves('throws');
    const results = await Promise.all([1, 2].map((n) => committer.submitBatched(kind, n)));
    expect(results).toEqual(['tx 1', 'tx 2']);
    expect(calls.all).toEqual([[1, 2]]);
    expect(committer.stats).toMatchObject({ aloneWrites: 0, aloneFailures: 1 });
  });

  it('keeps a batch holding a plain write in one transaction, in order', async () => {
    const phases: string[] = [];
    const committer = committerWithAlone(phases);
    const { kind, calls } = halves('evens');
    const results = await Promise.all([committer.submitBatched(kind, 2), committer.submit(() => Promise.resolve('plain'))]);
    expect(results).toEqual(['tx 2', 'plain']);
    expect(calls.alone).toEqual([]);
    expect(phases).toEqual(['transaction']);
  });

  it('lets a batched write recover its own failure, or fail with what its recovery throws', async () => {
    const committer = new GroupCommitter((work) => work({ dialect: 'sqlite', all: () => Promise.resolve([]), run: () => Promise.resolve(1) }));
    const kind: BatchedWrite<number, string> = {
      runAll: (_sql, inputs) => (inputs.some((n) => n < 0) ? Promise.reject(new Error('negative')) : Promise.resolve(inputs.map((n) => `ok ${n}`))),
    };
    const recover = (error: unknown): string => {
      if (error instanceof Error && error.message === 'negative') return 'recovered';
      throw error;
    };
    const rethrow = (error: unknown): string => {
      throw new Error('recovery failed', { cause: error });
    };
    const results = await Promise.allSettled([committer.submitBatched(kind, 1, recover), committer.submitBatched(kind, -1, recover), committer.submitBatched(kind, -2, rethrow)]);
    expect(results[0]).toEqual({ status: 'fulfilled', value: 'ok 1' });
    expect(results[1]).toEqual({ status: 'fulfilled', value: 'recovered' });
    expect(results[2]).toMatchObject({ status: 'rejected', reason: { message: 'recovery failed', cause: { message: 'negative' } } });
  });
});

describe.each(backends)('group commit on %s', (dialect) => {
  it('gathers the starts of concurrent attempts into few transactions', async () => {
    const ledger = await openTestLedger(dialect);
    const jobs = Array.from({ length: 60 }, newJob);
    await ledger.insertJobs(jobs);
    const before = ledger.groupCommitStats;
    const results = await Promise.all(jobs.map((j) => ledger.beginAttempt(j.id, worker)));
    expect(results.every((r) => r.kind === 'started')).toBe(true);
    const after = ledger.groupCommitStats;
    expect(after.writes - before.writes).toBe(60);
    expect(after.batches - before.batches).toBeLessThan(60);
    await ledger.close();
  });

  it('fails only the write that failed; its neighbours in the batch commit', async () => {
    const ledger = await openTestLedger(dialect);
    const executor = createFastExecutor(ledger.target, { checkpoint: false });
    const committer = new GroupCommitter((work) => executor.transaction(work));
    const insertRun = (id: string) => (sql: Parameters<Parameters<typeof committer.submit>[0]>[0]) =>
      sql.run(`INSERT INTO runs (id, name, status, created_at, updated_at, version) VALUES (?, 'r', 'open', 1, 1, 1)`, [id]);
    const [a, c] = [newId('run'), newId('run')];
    const outcomes = await Promise.allSettled([
      committer.submit(insertRun(a)),
      committer.submit(() => Promise.reject(new Error('boom'))),
      committer.submit(insertRun(c)),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ message: 'boom' });
    expect(committer.stats.splits).toBe(1);
    const ids = (await ledger.read((sql) => sql.all('SELECT id FROM runs ORDER BY id'))).map((r) => r.id);
    expect(ids).toEqual([a, c].sort());
    await executor.close();
    await ledger.close();
  });

  it('keeps fencing inside a batch: the stale attempt is superseded, the current one applies', async () => {
    const ledger = await openTestLedger(dialect);
    const job = newJob();
    await ledger.insertJobs([job]);
    const first = await ledger.beginAttempt(job.id, worker);
    const second = await ledger.beginAttempt(job.id, worker); // the first one is now stalled
    if (first.kind !== 'started' || second.kind !== 'started') throw new Error('not started');
    const [stale, current] = await Promise.all([
      ledger.recordOutcome(first.attempt, { type: 'completed', result: 'stale' }),
      ledger.recordOutcome(second.attempt, { type: 'completed', result: 'current' }),
    ]);
    expect(stale.kind).toBe('superseded');
    expect(current.kind).toBe('applied');
    const detail = await ledger.getJobDetail(job.id);
    expect(detail.job.result).toBe('current');
    expect(detail.attempts.map((a) => a.status)).toEqual(['superseded', 'succeeded']);
    expect(detail.events.filter((e) => e.type === 'job.completed')).toHaveLength(1);
    await ledger.close();
  });

  it('applies a batch of mixed outcomes exactly as it would one by one', async () => {
    const ledger = await openTestLedger(dialect);
    const jobs = Array.from({ length: 8 }, newJob);
    await ledger.insertJobs(jobs);
    const begun = await Promise.all(jobs.map((j) => ledger.beginAttempt(j.id, worker)));
    const refs = begun.map((b) => {
      if (b.kind !== 'started') throw new Error(b.kind);
      return b.attempt;
    });
    const error = { name: 'Error', message: 'boom' };
    const outcomes = [
      { type: 'completed', result: { n: 1 } },
      { type: 'completed', result: null },
      { type: 'retry', attemptStatus: 'failed', error, delayMs: 500 },
      { type: 'retry', attemptStatus: 'timed_out', error, delayMs: 1000 },
      { type: 'failed', attemptStatus: 'failed', error, reason: 'attempts exhausted' },
      { type: 'interrupted', reason: 'worker shutting down' },
      { type: 'cancelled', reason: 'cancelled by an operator' },
      { type: 'completed', result: 'with progress' },
    ] as const;
    const recorded = await Promise.all(
      refs.map((ref, i) => ledger.recordOutcome(ref, outcomes[i]!, i === 7 ? { pct: 100 } : undefined)),
    );
    expect(recorded.map((r) => r.kind)).toEqual(['applied', 'applied', 'applied', 'applied', 'applied', 'applied', 'cancelled', 'applied']);
    const details = await Promise.all(jobs.map((j) => ledger.getJobDetail(j.id)));
    expect(details.map((d) => d.job.status)).toEqual(['completed', 'completed', 'delayed', 'delayed', 'failed', 'queued', 'running', 'completed']);
    expect(details.map((d) => d.attempts[0]!.status)).toEqual([
      'succeeded', 'succeeded', 'failed', 'timed_out', 'failed', 'interrupted', 'cancelled', 'succeeded',
    ]);
    expect(details[0]!.job.result).toEqual({ n: 1 });
    expect(details[2]!.job.attemptsFailed).toBe(1);
    expect(details[2]!.job.lastError).toEqual(error);
    expect(details[3]!.job.runAt - details[3]!.attempts[0]!.finishedAt!).toBe(1000);
    expect(details[4]!.job.statusReason).toBe('attempts exhausted');
    expect(details[4]!.job.finishedAt).not.toBeNull();
    expect(details[5]!.job.statusReason).toBe('worker shutting down');
    expect(details[5]!.job.finishedAt).toBeNull();
    expect(details[7]!.job.progress).toEqual({ pct: 100 });
    expect(details.map((d) => d.events.map((e) => e.type).slice(2))).toEqual([
      ['job.completed'],
      ['job.completed'],
      ['job.attempt_failed', 'job.retry_scheduled'],
      ['job.attempt_failed', 'job.retry_scheduled'],
      ['job.attempt_failed', 'job.failed'],
      ['job.interrupted'],
      [],
      ['job.completed'],
    ]);
    for (const d of details) {
      expect(d.events.map((e) => e.seq)).toEqual(d.events.map((_, i) => i + 1));
      expect(d.job.version).toBe(d.events.length);
    }
    await ledger.close();
  });
});
