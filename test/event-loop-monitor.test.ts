/**
 * The worker watches its event loop: a handler that computes for more than a quarter of the lock
 * without yielding is named in a warning (the job type, the job and the attempt), since while it
 * computes BullMQ renews no lock in the process. Short computations and thread handlers are not.
 * Through a real worker on both backends, and the monitor on its own for who is named.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { EventLoopMonitor } from '../src/workers/event-loop-monitor.js';
import { backends } from './support/backends.js';
import { busyLoop, scriptedJob, threadScriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';

type LogLine = Record<string, unknown> & { msg: string; level: number };

function capturingLogger(lines: LogLine[]) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return createLogger({ logLevel: 'warn' }, stream);
}

const blockWarnings = (lines: LogLine[]) => lines.filter((l) => l.msg.startsWith('event loop blocked'));
/** The warnings that blame `jobId` (a busy machine may add warnings of its own: a descheduled process looks blocked). */
const blaming = (lines: LogLine[], jobId: string) =>
  blockWarnings(lines).filter((l) => (l.blockedBy as { jobId: string }[] | undefined)?.some((b) => b.jobId === jobId));

describe.each(backends)('event-loop warnings on %s', (dialect) => {
  it('warns naming the job type and attempt of a handler that blocks the loop past a quarter of the lock', async () => {
    const lines: LogLine[] = [];
    const jl = await openTestJobLedger(dialect, {
      jobs: [scriptedJob, threadScriptedJob],
      logger: capturingLogger(lines),
      env: { JOBLEDGER_LOCK_DURATION_MS: '2000', JOBLEDGER_STALLED_INTERVAL_MS: '1000' },
    });
    await jl.createWorker({ concurrency: 4 }).start();

    // Below a quarter of the lock (500 ms), and in a thread: never blamed.
    const short = (await jl.enqueue('test.scripted', { action: 'busy', ms: 50 })).id;
    const threaded = (await jl.enqueue('test.scripted-thread', { action: 'busy', ms: 1200 })).id;
    await waitForStatus(jl, short, 'completed');
    await waitForStatus(jl, threaded, 'completed');

    const blocker = (await jl.enqueue('test.scripted', { action: 'busy', ms: 800 })).id;
    // The lock outlives the block: the job completes, and the warning says who blocked the loop.
    await waitForStatus(jl, blocker, 'completed');
    const [warning] = await waitFor(() => Promise.resolve(blaming(lines, blocker).length > 0 ? blaming(lines, blocker) : undefined), 'the warning');
    expect(warning).toMatchObject({ level: 40, lockDurationMs: 2000, blockedBy: [{ jobId: blocker, job: 'test.scripted', attempt: 1 }] });
    expect(warning!.blockedMs).toBeGreaterThanOrEqual(500);
    expect(warning!.attempts).toContainEqual({ jobId: blocker, job: 'test.scripted', attempt: 1 });
    expect(warning!.msg).toContain(`by test.scripted attempt 1 (${blocker})`);
    expect(warning!.msg).toContain('threadHandler');
    expect(blaming(lines, blocker)).toHaveLength(1);
    expect([...blaming(lines, short), ...blaming(lines, threaded)]).toEqual([]);
    await jl.close();
  });
});

describe('the event-loop monitor', () => {
  it('names the attempts that ran through a block, the blocker first, and remembers the block for lock checks', () => {
    const lines: LogLine[] = [];
    const monitor = new EventLoopMonitor({ lockDurationMs: 400, logger: capturingLogger(lines), sampleMs: 20 });
    monitor.start();
    const startedAt = Date.now();
    const bystander = monitor.track({ jobId: 'job_a', name: 'test.bystander', attempt: 2 });
    const blocker = monitor.track({ jobId: 'job_b', name: 'test.blocker', attempt: 3 });
    const before = performance.now();
    busyLoop(300);
    blocker.ranSynchronously(performance.now() - before);
    blocker.end();
    // The tick has not come yet: the block just ended is already counted for the lock checks.
    expect(monitor.longestBlockSince(startedAt)).toBeGreaterThanOrEqual(250);
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        bystander.end();
        const warning = blockWarnings(lines).find((l) => l.blockedBy !== undefined);
        expect(warning).toMatchObject({
          attempts: expect.arrayContaining([
            { jobId: 'job_a', job: 'test.bystander', attempt: 2 },
            { jobId: 'job_b', job: 'test.blocker', attempt: 3 },
          ]) as unknown,
          blockedBy: [{ jobId: 'job_b', job: 'test.blocker', attempt: 3 }],
        });
        expect(monitor.longestBlockSince(startedAt)).toBeGreaterThanOrEqual(250);
        // Blocks that ended before a delivery was fetched do not count against it.
        expect(monitor.longestBlockSince(Date.now() + 1)).toBeLessThan(250);
        expect(monitor.stats().blocks).toBeGreaterThanOrEqual(1);
        monitor.stop();
        resolve();
      }, 60),
    );
  });
});
