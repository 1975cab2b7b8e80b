/**
 * Finished jobs with attempts and events, written straight into a ledger's tables (through the
 * entities) and dated `ageDays` back: the cold archive's tests fake time by the rows' dates.
 */
import { AttemptEntity, EventEntity, JobEntity, type AttemptRow, type EventRow, type JobRow } from '../../src/store/entities/index.js';
import { newId } from '../../src/store/ids.js';
import type { Ledger } from '../../src/store/ledger.js';

const dayMs = 86_400_000;

/** Inserts `count` finished jobs (completed, failed, cancelled in turn) created `ageDays` ago; returns their ids. */
export async function seedFinishedJobs(ledger: Ledger, count: number, options: { ageDays: number; queue?: string; runId?: string | null }): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 200) {
    await ledger.unitOfWork(async (em) => {
      for (let i = start; i < Math.min(count, start + 200); i++) {
        const { job, attempts, events } = finishedJob(i, Date.now() - options.ageDays * dayMs, options.queue ?? 'q', options.runId ?? null);
        em.create(JobEntity, job);
        for (const attempt of attempts) em.create(AttemptEntity, attempt);
        for (const event of events) em.create(EventEntity, event);
        ids.push(job.id);
      }
      return Promise.resolve();
    });
  }
  return ids;
}

function finishedJob(i: number, createdAt: number, queue: string, runId: string | null): { job: JobRow; attempts: AttemptRow[]; events: EventRow[] } {
  const id = newId('job');
  const status = (['completed', 'failed', 'cancelled'] as const)[i % 3]!;
  const attemptCount = 1 + (i % 3);
  const attempts: AttemptRow[] = [];
  let at = createdAt + 10;
  for (let n = 1; n <= attemptCount; n++) {
    const last = n === attemptCount;
    const ok = last && status === 'completed';
    attempts.push({
      id: newId('att'), jobId: id, number: n, status: ok ? 'succeeded' : last && status === 'cancelled' ? 'cancelled' : 'failed',
      workerId: `w:${i % 4}`, host: 'host-a', pid: 1000 + (i % 7), startedAt: at, heartbeatAt: at + 5, finishedAt: at + 20, durationMs: 20,
      error: ok ? null : { name: 'Error', message: `card declined ${i}/${n}`, stack: 'Error: card declined\n    at handler' },
    });
    at += 100;
  }
  const types = ['job.enqueued', 'job.started', ...(attemptCount > 1 ? ['job.retry_scheduled'] : []), `job.${status}`];
  const events: EventRow[] = types.map((type, k) => ({
    id: newId('evt'), subjectType: 'job', subjectId: id, seq: k + 1, type, payload: type === 'job.failed' ? { error: 'card declined' } : null,
    actor: 'test', createdAt: createdAt + k,
  }));
  const job: JobRow = {
    id, queue, name: 'test.seeded', payload: { customer: { id: i, plan: i % 2 ? 'pro' : 'free' }, note: `job ${i} \u00e9\u2603` }, status,
    statusReason: status === 'cancelled' ? 'cancelled by test' : null, priority: 0, runId, pipelineId: null, stage: null, idempotencyKey: null,
    maxAttempts: 3, backoff: { type: 'fixed', delayMs: 10 }, timeoutMs: null, attemptsStarted: attemptCount,
    attemptsFailed: status === 'completed' ? attemptCount - 1 : attemptCount, currentAttempt: attemptCount, progress: null,
    result: status === 'completed' ? { ok: true, i } : null,
    lastError: status === 'completed' ? null : { name: 'Error', message: `card declined ${i}` },
    runAt: createdAt, createdAt, dispatchedAt: createdAt + 1, startedAt: createdAt + 10, finishedAt: at, updatedAt: at, version: 2 + attemptCount,
    traceContext: null,
  };
  return { job, attempts, events };
}
