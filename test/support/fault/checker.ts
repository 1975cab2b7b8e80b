/**
 * The fault suite's checker: after a scenario it reads the whole ledger and every job id Redis
 * holds under the scenario's prefix, and reports, job by job, every way the delivery promise could
 * have been broken. Every scenario must end with all counts at zero.
 *
 *   lost               acknowledged by enqueue and not final in the ledger, or a job whose enqueue
 *                      was in flight that exists and is not final
 *   unexpected         in the ledger or in Redis, never acknowledged (and not a job whose enqueue
 *                      was cut short by a crash, which may or may not exist)
 *   finalOutcomes      a final job without exactly one final event (job.completed / job.failed /
 *                      job.cancelled), or a non-final job with one (scenarios here never retry)
 *   attemptNumbers     attempt numbers not exactly 1..attempts_started (a gap, a duplicate, a jump)
 *   multipleRunning    more than one attempt `running` at once
 *   runningAfterFinal  a final job that still has an attempt `running` (an attempt unaccounted for)
 *   eventSeq           a job's events not numbered 1..version
 *   redisDisagrees     a ledger-final job still waiting/active/delayed in Redis, or a non-final one
 *                      Redis does not hold
 *   integrity          SQLite's PRAGMA integrity_check is not "ok" (1), on SQLite only
 *
 * And, from the executions the scripted handlers count outside the ledger (a file each execution
 * appends `<job id> <attempt>` to; fixtures/scripted-job.ts), so that the ledger is not judged by
 * itself alone:
 *   succeededAttempts  a completed job without exactly one `succeeded` attempt, or another job with one
 *   unexecuted         a completed job with no counted execution, or a job with fewer counted
 *                      executions than attempts that reached its handler: an attempt whose outcome
 *                      came from the handler (`succeeded`, or `failed` with an error that is not one
 *                      jobledger raises before the handler runs) with no execution counted for it
 *   strayExecutions    an execution counted for an attempt the ledger has no row for (the handler
 *                      ran before its attempt's start was committed), or counted twice for one attempt
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createRedis } from '../../../src/transport/redis-connection.js';
import type { JobLedger } from '../../../src/jobledger.js';
import { decodeJson, toNumber } from '../../../src/store/engine/sql.js';
import { countedExecutions } from '../fixtures/scripted-job.js';

export interface CheckInput {
  jl: JobLedger;
  /** Job ids whose enqueue returned. */
  acknowledged: ReadonlySet<string>;
  /** Payload tags of jobs whose enqueue was in flight when its process died: they may exist or not. */
  inFlightTags?: ReadonlySet<string>;
  /** The Redis the jobs went through (default `jl.config.redisUrl`). */
  redisUrl?: string;
  /** The file the scripted handlers count their executions in (fixtures/scripted-job.ts). */
  executionsFile: string;
}

export interface CheckCounts {
  lost: number;
  unexpected: number;
  finalOutcomes: number;
  attemptNumbers: number;
  multipleRunning: number;
  runningAfterFinal: number;
  eventSeq: number;
  redisDisagrees: number;
  integrity: number;
  succeededAttempts: number;
  unexecuted: number;
  strayExecutions: number;
}

export interface CheckReport {
  counts: CheckCounts;
  /** Up to 5 example job ids per count, for the failure message. */
  examples: Partial<Record<keyof CheckCounts, string[]>>;
  jobs: number;
  byStatus: Record<string, number>;
  attempts: Record<string, number>;
  /** Handler executions counted outside the ledger. */
  executions: number;
  /** Attempts whose outcome came from the handler (each must have a counted execution). */
  handlerAttempts: number;
}

export const cleanCounts: CheckCounts = {
  lost: 0,
  unexpected: 0,
  finalOutcomes: 0,
  attemptNumbers: 0,
  multipleRunning: 0,
  runningAfterFinal: 0,
  eventSeq: 0,
  redisDisagrees: 0,
  integrity: 0,
  succeededAttempts: 0,
  unexecuted: 0,
  strayExecutions: 0,
};

const finalStatuses = new Set(['completed', 'failed', 'cancelled']);
const finalEvents = new Set(['job.completed', 'job.failed', 'job.cancelled']);
const pendingRedisStates = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;
const finishedRedisStates = ['completed', 'failed'] as const;
/**
 * Errors jobledger records on a `failed` attempt without the handler having run: the job type is
 * unknown to the worker, the outcome could not be classified, the handler's thread never took it.
 */
const errorsBeforeHandler = new Set(['UnknownJobError', 'ClassificationError', 'ThreadHandlerError']);

interface LedgerAttempt {
  number: number;
  status: string;
  errorName: string | undefined;
}

/** Whether the attempt's outcome came from its handler: it returned, or it threw. */
function reachedHandler(a: LedgerAttempt): boolean {
  return a.status === 'succeeded' || (a.status === 'failed' && !errorsBeforeHandler.has(a.errorName ?? ''));
}

interface LedgerJob {
  id: string;
  queue: string;
  status: string;
  attemptsStarted: number;
  version: number;
  tag: string | undefined;
}

export async function checkScenario(input: CheckInput): Promise<CheckReport> {
  const { jl } = input;
  const counts: CheckCounts = { ...cleanCounts };
  const examples: CheckReport['examples'] = {};
  const flag = (what: keyof CheckCounts, id: string): void => {
    counts[what]++;
    const list = (examples[what] ??= []);
    if (list.length < 5) list.push(id);
  };

  const { jobs, attemptsByJob, eventsByJob, integrity } = await readLedger(jl);
  const queues = [...new Set([...jobs.values()].map((j) => j.queue)), 'default'];
  const redis = await readRedis(input.redisUrl ?? jl.config.redisUrl, jl.config.redisPrefix, queues, jl.config);

  const executions = countedExecutions(input.executionsFile);
  const byStatus: Record<string, number> = {};
  const attemptTotals: Record<string, number> = {};
  let executionTotal = 0;
  let handlerAttempts = 0;
  for (const job of jobs.values()) {
    byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
    const final = finalStatuses.has(job.status);
    if (input.acknowledged.has(job.id)) {
      if (!final) flag('lost', job.id);
    } else if (job.tag !== undefined && input.inFlightTags?.has(job.tag)) {
      if (!final) flag('lost', job.id);
    } else {
      flag('unexpected', job.id);
    }

    const events = eventsByJob.get(job.id) ?? [];
    const finals = events.filter((e) => finalEvents.has(e.type)).length;
    if (finals !== (final ? 1 : 0)) flag('finalOutcomes', job.id);
    if (!events.every((e, i) => e.seq === i + 1) || events.length !== job.version) flag('eventSeq', job.id);

    const attempts = attemptsByJob.get(job.id) ?? [];
    for (const a of attempts) attemptTotals[a.status] = (attemptTotals[a.status] ?? 0) + 1;
    if (attempts.length !== job.attemptsStarted || !attempts.every((a, i) => a.number === i + 1)) flag('attemptNumbers', job.id);
    const running = attempts.filter((a) => a.status === 'running').length;
    if (running > 1) flag('multipleRunning', job.id);
    if (final && running > 0) flag('runningAfterFinal', job.id);

    const succeeded = attempts.filter((a) => a.status === 'succeeded').length;
    if (succeeded !== (job.status === 'completed' ? 1 : 0)) flag('succeededAttempts', job.id);
    const ran = executions.get(job.id) ?? [];
    const reached = attempts.filter(reachedHandler);
    executionTotal += ran.length;
    handlerAttempts += reached.length;
    const ranAttempts = new Set(ran);
    if (
      (job.status === 'completed' && ran.length === 0) ||
      ran.length < reached.length ||
      reached.some((a) => !ranAttempts.has(a.number))
    ) {
      flag('unexecuted', job.id);
    }
    const numbers = new Set(attempts.map((a) => a.number));
    if (ranAttempts.size !== ran.length || ran.some((n) => !numbers.has(n))) flag('strayExecutions', job.id);

    const inRedis = redis.pending.has(job.id);
    if (final ? inRedis : !inRedis) flag('redisDisagrees', job.id);
  }
  for (const id of input.acknowledged) if (!jobs.has(id)) flag('lost', id);
  for (const id of [...redis.pending, ...redis.finished]) if (!jobs.has(id)) flag('unexpected', id);
  for (const [id, ran] of executions) {
    if (jobs.has(id)) continue;
    executionTotal += ran.length;
    flag('strayExecutions', id);
  }
  if (integrity !== 'ok') flag('integrity', integrity);

  return { counts, examples, jobs: jobs.size, byStatus, attempts: attemptTotals, executions: executionTotal, handlerAttempts };
}

async function readLedger(jl: JobLedger) {
  return jl.ledger.read(async (sql) => {
    const jobs = new Map<string, LedgerJob>();
    for (const r of await sql.all('SELECT id, queue, status, attempts_started, version, payload FROM jobs')) {
      const payload = decodeJson(sql.dialect, r.payload) as { tag?: string } | null;
      jobs.set(r.id as string, {
        id: r.id as string,
        queue: r.queue as string,
        status: r.status as string,
        attemptsStarted: toNumber(r.attempts_started),
        version: toNumber(r.version),
        tag: payload?.tag,
      });
    }
    const attemptsByJob = new Map<string, LedgerAttempt[]>();
    for (const r of await sql.all('SELECT job_id, number, status, error FROM attempts ORDER BY job_id, number')) {
      const list = attemptsByJob.get(r.job_id as string) ?? [];
      const error = decodeJson(sql.dialect, r.error) as { name?: unknown } | null;
      list.push({ number: toNumber(r.number), status: r.status as string, errorName: typeof error?.name === 'string' ? error.name : undefined });
      attemptsByJob.set(r.job_id as string, list);
    }
    const eventsByJob = new Map<string, { seq: number; type: string }[]>();
    for (const r of await sql.all(`SELECT subject_id, seq, type FROM events WHERE subject_type = 'job' ORDER BY subject_id, seq`)) {
      const list = eventsByJob.get(r.subject_id as string) ?? [];
      list.push({ seq: toNumber(r.seq), type: r.type as string });
      eventsByJob.set(r.subject_id as string, list);
    }
    let integrity = 'ok';
    if (sql.dialect === 'sqlite') {
      const rows = await sql.all('PRAGMA integrity_check');
      integrity = rows.map((row) => String(Object.values(row)[0])).join('; ');
    }
    return { jobs, attemptsByJob, eventsByJob, integrity };
  });
}

/** Every job id Redis holds for these queues: still to run (`pending`) or finished there. */
async function readRedis(
  url: string,
  prefix: string,
  queues: readonly string[],
  topology: Pick<JobLedger['config'], 'redisClusterNodes' | 'redisSentinels' | 'redisSentinelMaster'>,
): Promise<{ pending: Set<string>; finished: Set<string> }> {
  // A Redis Cluster or Sentinels are reached through jobledger's own connection factory.
  const { redisClusterNodes, redisSentinels, redisSentinelMaster } = topology;
  const connection =
    redisClusterNodes.length || redisSentinels.length
      ? createRedis({ redisUrl: url, redisClusterNodes, redisSentinels, redisSentinelMaster }, 'worker')
      : new Redis(url, { maxRetriesPerRequest: 1 });
  connection.on('error', () => undefined);
  const pending = new Set<string>();
  const finished = new Set<string>();
  try {
    for (const name of queues) {
      const queue = new Queue(name, { connection, prefix });
      try {
        for (const id of await queue.getRanges([...pendingRedisStates], 0, -1, true)) pending.add(id);
        for (const id of await queue.getRanges([...finishedRedisStates], 0, -1, true)) finished.add(id);
      } finally {
        await queue.close();
      }
    }
  } finally {
    connection.disconnect();
  }
  return { pending, finished };
}

/** A one-line summary for failure messages and the suite's report. */
export function describeReport(report: CheckReport): string {
  const { counts, examples, jobs, byStatus, attempts, executions, handlerAttempts } = report;
  return JSON.stringify({ counts, examples, jobs, byStatus, attempts, executions, handlerAttempts });
}
