/**
 * Fault scenario f: a process killed (SIGKILL, at the fault points of src/fault-points.ts, by test/support/fixtures/fault-injector.ts)
 * at each step of enqueue (on the ledger's own path and through a caller's transaction) and of
 * completion:
 *   enqueue.before_commit   rows written, transaction open      -> the job does not exist (the crash
 *                                                                line says the transaction held its
 *                                                                rows, so the point did not fire early)
 *   enqueue.after_commit    committed, Redis not told           -> the relay hands it over
 *   enqueue.after_redis     in Redis, the outbox mark not set   -> it runs all the same (a worker may
 *                                                                begin a job still `pending`)
 *   outcome.after_commit    outcome committed, BullMQ not told  -> redelivered, found final, not re-run
 *                                                                (its handler counted one execution)
 * The job in flight at the crash was never acknowledged, so it may exist or not (the checker allows
 * both, and each case asserts which one it must be); every acknowledged job completes exactly once.
 */
import { describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import { startChildProducer } from '../support/child-worker.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';
import { countedExecutions } from '../support/fixtures/scripted-job.js';

const enqueuePoints = (['bulk', 'transaction'] as const).flatMap((mode) => [
  { point: 'enqueue.before_commit', mode, inFlightExists: false },
  { point: 'enqueue.after_commit', mode, inFlightExists: true },
  { point: 'enqueue.after_redis', mode, inFlightExists: true },
] as const);

/** What the crash line of `enqueue.before_commit` says the open transaction held. */
const beforeCommitRecord =
  /fault injected at enqueue\.before_commit \(TEST_FAULT_INJECT\): (\d+) of (\d+) job rows and (\d+) of (\d+) job\.enqueued events written in the open transaction/;

describe.each(backends)('fault f: crash at each step on %s', (dialect) => {
  it.each(enqueuePoints)('a producer ($mode) killed at $point loses no acknowledged job and leaves no half job', async ({ point, mode, inFlightExists }) => {
    const b = await openFaultBackend(dialect);
    const worker = await b.startWorker();
    const total = scaled(400);
    const crashAt = Math.floor(total / 2);
    const producer = await startChildProducer(b.config, {
      REDIS_URL: b.redis.url,
      PRODUCER_JOBS: String(total),
      PRODUCER_TAG: 'f',
      PRODUCER_MODE: mode,
      PRODUCER_PAYLOAD: JSON.stringify({ action: 'sleep', ms: 20 }),
      TEST_FAULT_INJECT: `${point}@${crashAt}`,
    });
    expect(await producer.exited).toEqual({ code: null, signal: 'SIGKILL' });
    const killedAt = Date.now();
    expect(producer.stderr()).toContain(`fault injected at ${point}`);
    if (point === 'enqueue.before_commit') {
      // Crashed with the job's row and event written inside the transaction, not before.
      const held = beforeCommitRecord.exec(producer.stderr());
      expect(held?.slice(1).map(Number), producer.stderr()).toEqual([1, 1, 1, 1]);
    }

    const acked = producer.lines().filter((l) => l.startsWith('ACK ')).map((l) => l.split(' ')[2]!);
    const sent = producer.lines().filter((l) => l.startsWith('SEND ')).map((l) => l.split(' ')[1]!);
    expect(acked).toHaveLength(crashAt - 1);
    const inFlight = sent.at(-1)!;
    for (const id of acked) b.acknowledged.add(id);

    await b.waitAllFinal();
    const [row] = await b.jl.ledger.read((sql) => sql.all(`SELECT id, dispatched_at FROM jobs WHERE CAST(payload AS TEXT) LIKE ?`, [`%"${inFlight}"%`]));
    expect(row !== undefined, `the job in flight (${inFlight}) exists`).toBe(inFlightExists);
    const extra: Record<string, unknown> = { point, mode };
    if (point === 'enqueue.after_commit') extra.relayHandOverMs = Number(row?.dispatched_at) - killedAt;

    const report = await b.check({ inFlightTags: new Set([inFlight]) });
    expect(report.byStatus).toEqual({ completed: crashAt - 1 + (inFlightExists ? 1 : 0) });
    expectClean(`f. crash at ${point} (${mode})`, b, report, extra);
    await worker.close();
    await b.close();
  });

  it('a worker killed after committing an outcome, before BullMQ heard it: the job is not run again', async () => {
    // Redelivery of the job whose outcome was committed must find it final and run nothing.
    const b = await openFaultBackend(dialect, { JOBLEDGER_MAX_STALLED_COUNT: '10', JOBLEDGER_MAX_LOST_ATTEMPTS: '10' });
    const crashAt = 40;
    const [steady, doomed] = await Promise.all([
      b.startWorker({ concurrency: 5 }),
      b.startWorker({ concurrency: 5, env: { TEST_FAULT_INJECT: `outcome.after_commit@${crashAt}` } }),
    ]);
    const ids = await b.enqueueMany(scaled(200), (i) => ({ action: 'sleep', ms: between(20, 80), tag: `fo-${i}` }));
    expect(await doomed.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(doomed.stderr()).toContain('fault injected at outcome.after_commit');
    const restarted = await b.startWorker({ concurrency: 5 });
    await b.waitAllFinal();

    // The attempt whose outcome the doomed worker had committed when it died: final, never followed,
    // and its handler ran once (the redelivery found the job final and ran nothing).
    const crashed = /fault injected at outcome\.after_commit \(TEST_FAULT_INJECT\): job (\S+) attempt (\d+) completed/.exec(doomed.stderr());
    expect(crashed, doomed.stderr()).not.toBeNull();
    const [, jobId, attempt] = crashed!;
    const detail = await b.jl.ledger.getJobDetail(jobId!);
    expect(detail.attempts.map((a) => ({ number: a.number, status: a.status, pid: a.pid }))).toEqual([
      { number: Number(attempt), status: 'succeeded', pid: doomed.pid },
    ]);
    expect(detail.events.filter((e) => e.type === 'job.completed')).toHaveLength(1);
    expect(countedExecutions(b.executionsFile).get(jobId!)).toEqual([Number(attempt)]);

    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expectClean('f. crash at outcome.after_commit', b, report, { point: 'outcome.after_commit' });
    await Promise.all([steady.close(), restarted.close()]);
    await b.close();
  });
});
