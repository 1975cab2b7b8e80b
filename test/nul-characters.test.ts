import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../src/jobs/define-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';

// PostgreSQL's text and jsonb cannot hold NUL; a handler that produces one must still end its job
// with a recorded outcome on both backends, never leave it running.
const nulJob = defineJob({
  name: 'test.nul',
  schema: z.object({ mode: z.enum(['throw', 'return']) }),
  maxAttempts: 1,
  handler(payload) {
    if (payload.mode === 'throw') throw new Error('bad\u0000message');
    return { text: 'x\u0000y' };
  },
});

describe.each(backends)('NUL characters from handlers on %s', (dialect) => {
  it('records an error message holding NUL with the NUL replaced', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [nulJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.nul', { mode: 'throw' });
    const job = await waitForStatus(jl, id, 'failed');
    expect((job.lastError as { message: string }).message).toBe('bad\uFFFDmessage');
    const detail = await jl.ledger.getJobDetail(id);
    expect(detail.attempts.map((a) => a.status)).toEqual(['failed']);
    await jl.close();
  });

  it('fails an attempt whose result holds NUL, with the reason recorded', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [nulJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.nul', { mode: 'return' });
    const job = await waitForStatus(jl, id, 'failed');
    expect(job.statusReason).toContain('NUL');
    await jl.close();
  });
});
