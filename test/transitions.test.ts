/**
 * The job transition table (store/lifecycle.ts) is executable: for every (status, transition) pair,
 * the ledger's own write for that transition moves the job to the table's target when the table
 * allows the pair, and otherwise leaves the job row as it was and writes no event about it.
 *
 * Each case starts from a job with one running attempt (so the outcome transitions have an attempt
 * to report for) and then sets the job's status to the status under test, as a fault or a race
 * would leave it.
 */
import { describe, expect, it } from 'vitest';
import { attemptTransitions, jobStatuses, jobTransitions, refusedOutcomeEvent, type AttemptStatus, type JobStatus, type JobTransition } from '../src/store/lifecycle.js';
import type { Ledger } from '../src/store/ledger.js';
import type { AttemptRef } from '../src/store/attempts/attempt-writes.js';
import { backends } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

const workerA = { workerId: 'w-a', host: 'h', pid: 1 };
const workerB = { workerId: 'w-b', host: 'h', pid: 2 };
const error = { name: 'Error', message: 'boom' };
const operatorRequest = (jobId: string) => ({ jobId, actor: 'test', reason: 'property walk', now: Date.now() });

/** The ledger's write for each transition, applied to a job whose attempt `ref` is running. */
const apply: Record<JobTransition, (ledger: Ledger, jobId: string, ref: AttemptRef) => Promise<unknown>> = {
  dispatch: (ledger, id) => ledger.markDispatched([id]),
  dispatchDelayed: async (ledger, id) => {
    await ledger.transaction((sql) => sql.run('UPDATE jobs SET run_at = ? WHERE id = ?', [Date.now() + 3_600_000, id]));
    await ledger.markDispatched([id]);
  },
  begin: (ledger, id) => ledger.beginAttempt(id, workerB),
  complete: (ledger, _id, ref) => ledger.recordOutcome(ref, { type: 'completed', result: 1 }),
  scheduleRetry: (ledger, _id, ref) => ledger.recordOutcome(ref, { type: 'retry', attemptStatus: 'failed', error, delayMs: 10 }),
  fail: (ledger, _id, ref) => ledger.recordOutcome(ref, { type: 'failed', attemptStatus: 'failed', error, reason: 'failed by the walk' }),
  requeue: (ledger, _id, ref) => ledger.recordOutcome(ref, { type: 'interrupted', reason: 'shutdown' }),
  loseAttempt: (ledger, _id, ref) => ledger.recordLostAttempt(ref, { reason: 'event loop blocked', detectedBy: workerA.workerId, discarded: { type: 'completed', result: 1 } }),
  cancel: (ledger, id) => ledger.cancelJob(operatorRequest(id)),
  retry: (ledger, id) => ledger.retryJob(operatorRequest(id)),
  failStalled: (ledger, id) => ledger.failStalledJob(id, 'stalled too often'),
};

/** The transitions an attempt's outcome makes, and what its attempt becomes when the job takes it. */
const outcomeAttempt: Partial<Record<JobTransition, AttemptStatus>> = {
  complete: attemptTransitions.succeed.to,
  scheduleRetry: attemptTransitions.fail.to,
  fail: attemptTransitions.fail.to,
  requeue: attemptTransitions.interrupt.to,
  loseAttempt: attemptTransitions.stall.to,
};

interface JobSnapshot {
  status: string;
  version: number;
  eventTypes: string[];
  firstAttempt: string;
}

async function snapshot(ledger: Ledger, jobId: string): Promise<JobSnapshot> {
  const detail = await ledger.getJobDetail(jobId);
  return { status: detail.job.status, version: detail.job.version, eventTypes: detail.events.map((e) => e.type), firstAttempt: detail.attempts[0]!.status };
}

/** A job with attempt 1 running, then put in `status` behind the ledger's back. */
async function jobIn(ledger: Ledger, status: JobStatus): Promise<{ id: string; ref: AttemptRef }> {
  const [inserted] = await ledger.insertJobs([newJob()]);
  const id = inserted!.id;
  const begin = await ledger.beginAttempt(id, workerA);
  if (begin.kind !== 'started') throw new Error(`expected a start, got ${begin.kind}`);
  if (status !== 'running') {
    await ledger.transaction((sql) => sql.run('UPDATE jobs SET status = ? WHERE id = ?', [status, id]));
  }
  return { id, ref: begin.attempt };
}

const pairs = (Object.keys(jobTransitions) as JobTransition[]).flatMap((transition) =>
  jobStatuses.map((status) => ({ transition, status, allowed: (jobTransitions[transition].from as readonly string[]).includes(status) })),
);

describe.each(backends)('the job transition table on %s', (dialect) => {
  it(`applies its ${pairs.filter((p) => p.allowed).length} allowed pairs and no other of the ${pairs.length}`, async () => {
    const ledger = await openTestLedger(dialect);
    const wrong: string[] = [];
    try {
      for (const { transition, status, allowed } of pairs) {
        const { id, ref } = await jobIn(ledger, status);
        const before = await snapshot(ledger, id);
        await apply[transition](ledger, id, ref).catch((e: unknown) => {
          // A refused operator action is a typed error; anything else is a failure of the walk.
          if (allowed || !['JOBLEDGER_ILLEGAL_TRANSITION'].includes((e as { code?: string }).code ?? '')) throw e;
        });
        const after = await snapshot(ledger, id);
        const written = after.eventTypes.slice(before.eventTypes.length);
        const { to: target, events } = jobTransitions[transition];
        const pair = `${status} --${transition}-->`;
        const attemptTo = outcomeAttempt[transition];
        if (allowed) {
          if (after.status !== target) wrong.push(`${pair} expected ${target}, got ${after.status}`);
          if (written.some((t) => !(events as readonly string[]).includes(t))) wrong.push(`${pair} wrote ${written.join(', ')}, the table says ${events.join(', ')}`);
          if (events.length > 0 && !written.includes(events[events.length - 1]!)) wrong.push(`${pair} did not write ${events[events.length - 1]}`);
          if (attemptTo && after.firstAttempt !== attemptTo) wrong.push(`${pair} left its attempt ${after.firstAttempt}, expected ${attemptTo}`);
        } else {
          // Refused: the job keeps its status; only an outcome leaves a trace, its attempt's record.
          const trace = attemptTo && status !== 'cancelled' ? [refusedOutcomeEvent] : [];
          if (after.status !== before.status) wrong.push(`${pair} is refused, but the job went ${before.status} -> ${after.status}`);
          if (JSON.stringify(written) !== JSON.stringify(trace)) wrong.push(`${pair} is refused, but wrote [${written.join(', ')}]`);
          if (trace.length === 0 && after.version !== before.version) wrong.push(`${pair} is refused, but bumped the version`);
          if (attemptTo) {
            const expected = status === 'cancelled' ? attemptTransitions.cancel.to : attemptTransitions.supersede.to;
            if (after.firstAttempt !== expected) wrong.push(`${pair} is refused and left its attempt ${after.firstAttempt}, expected ${expected}`);
          }
        }
      }
    } finally {
      await ledger.close();
    }
    expect(wrong).toEqual([]);
  });
});
