/**
 * Fault scenario: a handler that blocks the event loop on every attempt (it computes for 5 s
 * without yielding, with a 2 s lock and a stalled check every second). Two worker processes at
 * concurrency 10 run 20 ordinary jobs of 0.3-3 s beside it, round after round.
 *
 * While the blocker computes, its process renews no lock at all: BullMQ's stalled checker in the
 * other process takes over every job the frozen one was running, the blocker's and its neighbours'
 * alike, and their late outcomes are fenced out. Each of those attempts was lost, and counts towards
 * the job's lost-attempt bound; a job two losses down runs alone in its process, so the blocker's
 * third loss is its own, and it is failed as poison at its next delivery. The neighbours, lost once
 * or twice, complete; none comes near BullMQ's stall limit (6), the backstop behind the ledger's bound.
 *
 * The same blocker as a thread handler (`threadHandler`) blocks nothing: no attempt is lost at all.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { DatabaseDialect } from '../../src/config.js';
import { backends } from '../support/backends.js';
import type { ChildWorker } from '../support/child-worker.js';
import { between, expectClean, openFaultBackend, scaled, type FaultBackend } from '../support/fault/scenario.js';

/** The timings: lock 2 s, stalled check every second, a 5 s block. */
const timings = { JOBLEDGER_LOCK_DURATION_MS: '2000', JOBLEDGER_STALLED_INTERVAL_MS: '1000' } as const;
const blockMs = 5000;
const rounds = scaled(3);

type LogLine = Record<string, unknown> & { msg: string };

/** The JSON log lines a child wrote on stderr (its LOG_LEVEL is `warn`). */
function logsOf(workers: readonly ChildWorker[]): LogLine[] {
  return workers.flatMap((w) =>
    w
      .stderr()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine),
  );
}

async function startWorkers(b: FaultBackend): Promise<ChildWorker[]> {
  return Promise.all([0, 1].map(() => b.startWorker({ concurrency: 10, env: { LOG_LEVEL: 'warn' } })));
}

/** Most stalls BullMQ counted for any of these jobs (their Redis hashes are kept a while after they finish). */
async function maxStalledCount(b: FaultBackend, ids: readonly string[]): Promise<number> {
  const connection = new Redis(b.config.redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue('default', { connection, prefix: b.config.redisPrefix });
  try {
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    return Math.max(0, ...jobs.map((job) => job?.stalledCounter ?? 0));
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** One round's jobs: the blocker in the middle of 20 ordinary ones. */
async function enqueueRound(b: FaultBackend, round: number, blockerJob: 'test.scripted' | 'test.scripted-thread') {
  const ordinary = await b.enqueueMany(10, (i) => ({ action: 'sleep', ms: between(300, 3000), tag: `r${round}-a${i}` }));
  const blocker = (await b.jl.enqueue(blockerJob, { action: 'busy', ms: blockMs, tag: `r${round}-blocker` })).id;
  b.acknowledged.add(blocker);
  ordinary.push(...(await b.enqueueMany(10, (i) => ({ action: 'sleep', ms: between(300, 3000), tag: `r${round}-b${i}` }))));
  return { ordinary, blocker };
}

describe.each(backends)('fault: a handler that blocks the event loop on every attempt, on %s', (dialect: DatabaseDialect) => {
  it('fails the blocker as poison after it ran alone; every ordinary job beside it completes', async () => {
    const b = await openFaultBackend(dialect, timings);
    const workers = await startWorkers(b);
    const blockers: string[] = [];
    const ordinaryIds: string[] = [];
    const lostPerOrdinaryJob: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const { ordinary, blocker } = await enqueueRound(b, round, 'test.scripted');
      blockers.push(blocker);
      ordinaryIds.push(...ordinary);
      await b.waitAllFinal({ timeoutMs: 90_000 });

      const { job, attempts, events } = await b.jl.ledger.getJobDetail(blocker);
      expect(job.status, `round ${round}: the blocker`).toBe('failed');
      expect(job.statusReason).toMatch(/^lost 3 attempts in a row \(each time its worker died, froze or lost the job before an outcome\).*JOBLEDGER_MAX_LOST_ATTEMPTS=3\)$/);
      expect(job.lastError).toMatchObject({ name: 'StalledJobError' });
      // Three attempts, each lost: recorded stalled by its own frozen worker or by the next attempt,
      // or come back late and fenced out (superseded).
      expect(attempts).toHaveLength(3);
      for (const attempt of attempts) expect(['stalled', 'superseded']).toContain(attempt.status);
      expect(events.filter((e) => e.type === 'job.completed')).toEqual([]);

      for (const id of ordinary) {
        const detail = await b.jl.ledger.getJobDetail(id);
        if (detail.job.status !== 'completed' && process.env.BLOCKING_DEBUG) {
          const all = await b.jl.ledger.read((sql) => sql.all('SELECT job_id, number, status, worker_id, started_at, finished_at FROM attempts ORDER BY started_at'));
          console.log(JSON.stringify({ job: detail.job, attempts: detail.attempts.map((a) => [a.number, a.status, a.workerId, a.startedAt, a.finishedAt]), events: detail.events.map((e) => [e.type, e.createdAt, e.payload]) }));
          console.log(JSON.stringify({ blocker, all: all.map((r) => [r.job_id === blocker ? 'BLOCKER' : r.job_id, r.number, r.status, String(r.worker_id).slice(-6), Number(r.started_at) % 1000000, Number(r.finished_at) % 1000000]) }));
          console.log(logsOf(workers).map((l) => JSON.stringify(l)).join('\n'));
        }
        expect(detail.job.status, `round ${round}: ordinary job ${id}`).toBe('completed');
        // Lost at most twice: a third time it would have run alone, away from the blocker.
        const lost = detail.attempts.filter((a) => a.status !== 'succeeded').length;
        expect(lost).toBeLessThanOrEqual(2);
        lostPerOrdinaryJob.push(lost);
      }
    }

    // The blocker's third attempt ran alone in its process: the poison guard said so.
    const logs = logsOf(workers);
    for (const blocker of blockers) {
      expect(logs.filter((l) => l.jobId === blocker && l.msg === 'a job whose last attempt was lost runs alone in this process')).toMatchObject([{ lost: 2 }]);
      expect(logs.filter((l) => l.jobId === blocker && String(l.msg).includes('starts beside attempts'))).toEqual([]);
      // And each time it blocked its process, the warning named it.
      const blamed = logs.filter((l) => (l.blockedBy as { jobId: string }[] | undefined)?.some((x) => x.jobId === blocker));
      expect(blamed.length).toBeGreaterThanOrEqual(2);
    }

    // Nothing reached BullMQ's stall limit: the ledger's bound acted first, on the blocker only.
    const [byBullMQ] = await b.jl.ledger.read((sql) => sql.all(`SELECT COUNT(*) AS n FROM jobs WHERE status_reason LIKE 'BullMQ:%'`));
    expect(Number(byBullMQ?.n)).toBe(0);
    const ordinaryMaxStalls = await maxStalledCount(b, ordinaryIds);
    expect(ordinaryMaxStalls).toBeLessThan(b.config.maxStalledCount);

    // Late outcomes were fenced: each superseded attempt left a job.superseded event and changed nothing
    // else (the checker below finds exactly one final event per job).
    const [late] = await b.jl.ledger.read((sql) =>
      sql.all(
        `SELECT (SELECT COUNT(*) FROM attempts WHERE status = 'superseded') AS attempts,
                (SELECT COUNT(*) FROM events WHERE type = 'job.superseded') AS events`,
      ),
    );
    expect(Number(late?.events)).toBeGreaterThanOrEqual(Number(late?.attempts));

    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ordinaryIds.length, failed: blockers.length });
    expectClean('a handler that blocks the event loop on every attempt', b, report, {
      rounds,
      ordinaryJobs: ordinaryIds.length,
      ordinaryFailed: 0,
      ordinaryLostOnce: lostPerOrdinaryJob.filter((n) => n === 1).length,
      ordinaryLostTwice: lostPerOrdinaryJob.filter((n) => n === 2).length,
      ordinaryMaxStalls,
    });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  }, 100_000 * rounds);

  it('runs the same handler in a thread without a single stall; it completes', async () => {
    const b = await openFaultBackend(dialect, timings);
    const workers = await startWorkers(b);
    const blockers: string[] = [];
    for (let round = 0; round < Math.max(1, Math.floor(rounds / 2)); round++) {
      const { blocker } = await enqueueRound(b, round, 'test.scripted-thread');
      blockers.push(blocker);
      await b.waitAllFinal({ timeoutMs: 60_000 });
    }
    for (const blocker of blockers) {
      const { job, attempts } = await b.jl.ledger.getJobDetail(blocker);
      expect(job.status).toBe('completed');
      expect(attempts.map((a) => a.status)).toEqual(['succeeded']);
    }
    // No attempt lost, no stall, no block warned about.
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: b.acknowledged.size });
    expect(report.attempts).toEqual({ succeeded: b.acknowledged.size });
    const [stalls] = await b.jl.ledger.read((sql) => sql.all(`SELECT COUNT(*) AS n FROM events WHERE type IN ('job.stalled', 'job.superseded')`));
    expect(Number(stalls?.n)).toBe(0);
    expect(logsOf(workers).filter((l) => (l.blockedBy as unknown[] | undefined)?.length)).toEqual([]);
    expectClean('the same blocking handler in a thread', b, report);
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});
