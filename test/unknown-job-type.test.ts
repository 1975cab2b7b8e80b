/**
 * A worker that does not know a job's type does not start it: the delivery goes back to Redis
 * unstarted (no attempt, no retry spent), the ledger gets one `job.type_unknown` event per job per
 * worker for the doctor, and a worker that knows the type runs the job once.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JobLedger } from '../src/jobledger.js';
import { defineJob } from '../src/jobs/define-job.js';
import { backends, testConfig } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { waitFor, waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';
import { openQueue } from './support/redis.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const runs = new Map<string, number>();
const typeA = defineJob({ name: 'test.known', schema: z.object({}), handler: () => null });
const typeB = defineJob({
  name: 'test.elsewhere',
  schema: z.object({ tag: z.string() }),
  handler: (payload) => {
    runs.set(payload.tag, (runs.get(payload.tag) ?? 0) + 1);
    return { ran: payload.tag };
  },
});

describe.each(backends)('a job type the worker does not know, on %s', (dialect) => {
  it('is handed back to Redis unstarted, recorded once per worker, and run once by a worker that knows it', async () => {
    const config = await testConfig(dialect);
    // Two processes on one ledger and one Redis prefix: one knows only A, the other A and B.
    const onlyA = track(await JobLedger.open({ jobs: [typeA], config, migrate: true }), 'JobLedger(A)');
    const both = track(await JobLedger.open({ jobs: [typeA, typeB], config }), 'JobLedger(A, B)');
    const tag = `${dialect}-${Date.now()}`;
    const { id } = await both.enqueue('test.elsewhere', { tag });
    const workerA = onlyA.createWorker();
    await workerA.start();

    // Handed back once, and then again (the same worker meets it a second time): one event, no attempt.
    const queue = openQueue(onlyA);
    await waitFor(
      async () => (((await queue.getJob(id))?.attemptsStarted ?? 0) >= 2 && (await queue.getJobState(id)) === 'delayed') || undefined,
      'a second delivery to the worker that knows only A, handed back',
    );
    const detail = await onlyA.ledger.getJobDetail(id);
    expect(detail.attempts).toEqual([]);
    expect(detail.job.status).toBe('queued');
    expect(detail.job.attemptsStarted).toBe(0);
    const handedBack = detail.events.filter((e) => e.type === 'job.type_unknown');
    expect(handedBack).toHaveLength(1);
    expect(handedBack[0]!.payload).toMatchObject({ name: 'test.elsewhere', knownTypes: ['test.known'] });

    // What the doctor lists: the job waits for a worker that knows its type.
    expect(await onlyA.ledger.findJobsAwaitingType()).toEqual([
      expect.objectContaining({ jobId: id, name: 'test.elsewhere', status: 'queued', handedBackBy: handedBack[0]!.actor }),
    ]);

    // And `jobledger doctor` (the built package) says so.
    const doctor = await promisify(execFile)(process.execPath, [bin, 'doctor', '--json'], { env: { PATH: process.env.PATH ?? '', ...configEnv(config) } });
    const checks = (JSON.parse(doctor.stdout) as { checks: { check: string; verdict: string; detail: string }[] }).checks;
    expect(checks.find((c) => c.check === 'job types served')).toMatchObject({ verdict: 'warn', detail: expect.stringContaining(`test.elsewhere: 1 job(s) (${id})`) as unknown });

    // A worker that knows B runs it, once. (The first worker stops: while it runs, it may win the
    // delayed job's every delivery, each delay longer than the last, and the test would wait on chance.)
    await workerA.close();
    await both.createWorker().start();
    const job = await waitForStatus(both, id, 'completed', 60_000);
    expect(job.result).toEqual({ ran: tag });
    expect(runs.get(tag)).toBe(1);
    const after = await both.ledger.getJobDetail(id);
    expect(after.attempts.map((a) => a.status)).toEqual(['succeeded']);
    expect(after.events.filter((e) => e.type === 'job.type_unknown').length).toBeLessThanOrEqual(1);
    expect(await both.ledger.findJobsAwaitingType()).toEqual([]);

    await queue.close();
    await onlyA.close();
    await both.close();
  }, 90_000);
});
