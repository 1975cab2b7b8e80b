/**
 * The built-in demo job types, used by `jobledger demo` and by the CLI when no configuration module
 * is found. They simulate real work: some succeed, some fail once and succeed on retry, some always
 * fail and end `failed`, some report progress.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJob } from '../jobs/define-job.js';
import { ticketJobs } from './demo-pipeline.js';

/** Resizes an image in a few steps, reporting progress after each. */
export const resizeImage = defineJob({
  name: 'demo.resize-image',
  schema: z.object({ imageId: z.string().min(1), steps: z.number().int().min(1).max(20).default(3), stepMs: z.number().int().min(0).max(1000).default(2) }),
  async handler(payload, ctx) {
    for (let step = 1; step <= payload.steps; step++) {
      await sleep(payload.stepMs, undefined, { signal: ctx.signal });
      await ctx.progress({ step, of: payload.steps });
    }
    return { imageId: payload.imageId, width: 640, height: 480 };
  },
  backoff: { type: 'fixed', delayMs: 20 },
});

/** Sends an email; a flaky provider fails the first `failTimes` attempts. */
export const sendEmail = defineJob({
  name: 'demo.send-email',
  schema: z.object({ to: z.email(), failTimes: z.number().int().min(0).max(10).default(0) }),
  async handler(payload, ctx) {
    await sleep(1, undefined, { signal: ctx.signal });
    if (ctx.attempt <= payload.failTimes) throw new Error(`SMTP 421: ${payload.to}'s server is busy (attempt ${ctx.attempt})`);
    return { delivered: payload.to, attempt: ctx.attempt };
  },
  maxAttempts: 4,
  backoff: { type: 'exponential', delayMs: 25, jitter: 0.2, maxDelayMs: 200 },
});

/** Charges a card; a declined card fails every attempt and the job ends `failed`. */
export const chargeCard = defineJob({
  name: 'demo.charge-card',
  schema: z.object({ cardId: z.string().min(1), amountCents: z.number().int().positive(), declined: z.boolean().default(false) }),
  async handler(payload, ctx) {
    await sleep(1, undefined, { signal: ctx.signal });
    if (payload.declined) throw Object.assign(new Error(`card ${payload.cardId} declined`), { code: 'CARD_DECLINED' });
    return { charged: payload.amountCents };
  },
  maxAttempts: 2,
  backoff: { type: 'fixed', delayMs: 20 },
});

/** Does nothing; for benchmarks and smoke tests. */
export const noop = defineJob({
  name: 'demo.noop',
  schema: z.object({}).passthrough(),
  handler: () => null,
});

export const demoJobs = [resizeImage, sendEmail, chargeCard, noop];

/** The demo job types plus the demo ticket pipeline's stage jobs: what the CLI registers without a configuration module. */
export const allDemoJobs = [...demoJobs, ...ticketJobs];
