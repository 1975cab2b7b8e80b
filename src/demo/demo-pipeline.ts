/**
 * The demo pipeline: a ticket goes queued → coding → testing → review → merged. A failed test run or
 * a review that requests changes loops back to coding with the feedback, each on its own budget
 * (`ci`, `review`; 2 loops each by default, overridable per ticket as a project would); exhausting a
 * budget ends the ticket failed. The stages are simulated: the ticket's `script` in the context says
 * how often tests fail and reviews reject, so the demo's outcomes are deterministic.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJob } from '../jobs/define-job.js';
import { definePipeline, stagePayloadSchema } from '../jobs/define-pipeline.js';

export const ticketContextSchema = z.looseObject({
  ticket: z.object({ id: z.string().min(1), title: z.string() }),
  /** How the simulated stages behave for this ticket. */
  script: z
    .object({
      /** Test runs that fail before one passes. */
      failTests: z.number().int().min(0).max(100).default(0),
      /** Reviews that request changes before one approves. */
      requestChanges: z.number().int().min(0).max(100).default(0),
      /** The first coding attempt of each visit throws (a transient error: the job retries in the same stage). */
      flakyCoding: z.boolean().default(false),
    })
    .default({ failTests: 0, requestChanges: 0, flakyCoding: false }),
});

export type TicketContext = z.infer<typeof ticketContextSchema>;

const schema = stagePayloadSchema(ticketContextSchema);
const work = (ctx: { signal: AbortSignal }): Promise<void> => sleep(1 + Math.floor(Math.random() * 3), undefined, { signal: ctx.signal });
const options = { maxAttempts: 3, backoff: { type: 'fixed', delayMs: 10 } } as const;

/** queued: creates the ticket's branch. */
export const ticketBranch = defineJob({
  name: 'demo.ticket.branch',
  schema,
  ...options,
  async handler(payload, ctx) {
    await work(ctx);
    return { context: { branch: `ticket/${payload.context.ticket.id}` } };
  },
});

/** coding: writes (or, with feedback, revises) the change. */
export const ticketCode = defineJob({
  name: 'demo.ticket.code',
  schema,
  ...options,
  async handler(payload, ctx) {
    await work(ctx);
    if (payload.context.script.flakyCoding && ctx.attempt === 1) throw new Error('the coding agent timed out talking to its model');
    const change = payload.feedback ? `revision ${payload.visit}: addressed "${payload.feedback.message}"` : 'initial implementation';
    return { context: { commits: payload.visit, lastChange: change } };
  },
});

/**
 * testing: CI; a failed run fails the job at once (one attempt: re-running the same code fails the
 * same way), which loops back to coding on the `ci` budget with the failure as feedback.
 */
export const ticketTest = defineJob({
  name: 'demo.ticket.test',
  schema,
  ...options,
  maxAttempts: 1,
  async handler(payload, ctx) {
    await work(ctx);
    if (payload.visit <= payload.context.script.failTests) {
      throw new Error(`CI run ${payload.visit}: 2 of 48 tests failed (checkout.spec.ts, cart.spec.ts)`);
    }
    return { context: { ci: `passed on run ${payload.visit}` } };
  },
});

/** review: approves, or completes with `changes_requested`, which loops back to coding on the `review` budget. */
export const ticketReview = defineJob({
  name: 'demo.ticket.review',
  schema,
  ...options,
  async handler(payload, ctx) {
    await work(ctx);
    if (payload.visit <= payload.context.script.requestChanges) {
      return { verdict: 'changes_requested', feedback: `review ${payload.visit}: please cover the empty-cart case` };
    }
    return { verdict: 'approved', context: { approvedBy: 'reviewer-bot' } };
  },
});

export const ticketJobs = [ticketBranch, ticketCode, ticketTest, ticketReview];

export const ticketPipeline = definePipeline({
  name: 'ticket',
  start: 'queued',
  stages: {
    queued: { job: ticketBranch.name, on: { completed: 'coding' } },
    coding: { job: ticketCode.name, on: { completed: 'testing' } },
    testing: { job: ticketTest.name, on: { completed: 'review', failed: { loopTo: 'coding', budget: 'ci' } } },
    review: {
      job: ticketReview.name,
      on: {
        completed: {
          choose: (result) => ((result as { verdict?: unknown } | null)?.verdict === 'approved' ? 'approved' : 'changes_requested'),
          routes: {
            approved: { end: 'succeeded', state: 'merged' },
            changes_requested: { loopTo: 'coding', budget: 'review' },
          },
        },
      },
    },
  },
  // Seed 004's max_retries_ci / max_retries_review; a project overrides them per pipeline instance.
  budgets: { ci: 2, review: 2 },
});

export const demoPipelines = [ticketPipeline];
