/**
 * The handler's `ctx`: its parts are made only when a handler asks, `progress` works when
 * destructured, and logging or spreading `ctx` shows the attempt's identity, never the ledger.
 */
import { describe, expect, it } from 'vitest';
import type { Logger } from '../src/logger.js';
import type { Ledger } from '../src/store/ledger.js';
import type { StartedJob } from '../src/store/jobs/job-rows.js';
import { AttemptAbort } from '../src/workers/attempt-abort.js';
import { AttemptContext } from '../src/workers/attempt-context.js';

function contextFor(children: unknown[]) {
  // Only what the context itself touches: a logger whose children are counted. The ledger is never
  // reached unless progress or state is used, which the suites through a real worker cover.
  const logger = { child: (bindings: unknown) => (children.push(bindings), { bindings }) } as unknown as Logger;
  const job = { id: 'job_01HZZZZZZZZZZZZZZZZZZZZZZZ', name: 'test.ctx', runId: null } as StartedJob;
  const ref = { jobId: job.id, attemptId: 'att_1', number: 3, startedAt: 0 };
  const stop = new AttemptAbort();
  return { ctx: new AttemptContext({ ledger: {} as Ledger, logger, progressEventIntervalMs: 1000 }, job, ref, stop), stop };
}

describe('the attempt context', () => {
  it('makes the child logger once, on first use, with the job and attempt', () => {
    const children: unknown[] = [];
    const { ctx } = contextFor(children);
    expect(children).toEqual([]);
    expect(ctx.logger).toBe(ctx.logger);
    expect(children).toEqual([{ jobId: 'job_01HZZZZZZZZZZZZZZZZZZZZZZZ', job: 'test.ctx', attempt: 3 }]);
  });

  it('hands out the abort signal, aborted with the reason the attempt was stopped for', () => {
    const { ctx, stop } = contextFor([]);
    expect(ctx.signal.aborted).toBe(false);
    stop.abort('cancelled');
    expect(ctx.signal.aborted).toBe(true);
    expect(ctx.signal.reason).toBe('cancelled');
  });

  it('keeps progress callable when destructured, and rejects bad progress with a typed error', async () => {
    const { ctx } = contextFor([]);
    const { progress } = ctx;
    await expect(progress([1, 2] as unknown as number)).rejects.toMatchObject({ name: 'InvalidOptionError' });
    expect(ctx.takeHeldProgress()).toBeUndefined();
    expect(ctx.usedState).toBeUndefined();
  });

  it('shows only the attempt identity when logged or spread', () => {
    const { ctx } = contextFor([]);
    expect(JSON.parse(JSON.stringify(ctx))).toEqual({ jobId: 'job_01HZZZZZZZZZZZZZZZZZZZZZZZ', name: 'test.ctx', attempt: 3, runId: null });
    expect(Object.keys({ ...ctx }).sort()).toEqual(['attempt', 'jobId', 'name', 'progress', 'runId']);
  });
});
