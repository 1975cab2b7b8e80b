/**
 * Measuring recovery: which attempts a killed worker was running, and how long each of their jobs
 * waited for its next attempt to start. Compared in the tests with the recovery-time formula of
 * README.md ("Delivery promise"): lockDurationMs + stalledIntervalMs, plus the time to start the
 * next attempt.
 */
import { expect } from 'vitest';
import type { JobLedger } from '../../../src/jobledger.js';
import { toNumber } from '../../../src/store/engine/sql.js';
import { faultTimings } from './scenario.js';

/** Allowed for starting the next attempt once BullMQ moved the job back (fetch, begin commit) on a loaded 2-core machine. */
export const startAllowanceMs = 1000;

/** lockDurationMs + stalledIntervalMs + the start allowance, with the suite's timings. */
export const stallRecoveryBoundMs =
  Number(faultTimings.JOBLEDGER_LOCK_DURATION_MS) + Number(faultTimings.JOBLEDGER_STALLED_INTERVAL_MS) + startAllowanceMs;

export interface LostAttempt {
  jobId: string;
  number: number;
}

/** Attempts a worker process is running now, per the ledger. */
export async function runningAttemptsOf(jl: JobLedger, pid: number): Promise<LostAttempt[]> {
  const rows = await jl.ledger.read((sql) => sql.all(`SELECT job_id, number FROM attempts WHERE status = 'running' AND pid = ?`, [pid]));
  return rows.map((r) => ({ jobId: r.job_id as string, number: toNumber(r.number) }));
}

/**
 * For attempts lost at `killedAt`: how long until each job's next attempt started. Attempts that
 * finished before the kill landed (not `stalled`) are left out.
 */
export async function recoveryTimes(jl: JobLedger, lost: readonly LostAttempt[], killedAt: number): Promise<number[]> {
  const times: number[] = [];
  for (const { jobId, number } of lost) {
    const { attempts } = await jl.ledger.getJobDetail(jobId);
    const killed = attempts.find((a) => a.number === number);
    if (killed?.status !== 'stalled') continue;
    const next = attempts.find((a) => a.number === number + 1);
    expect(next, `job ${jobId}: attempt ${number} was lost and never followed`).toBeDefined();
    times.push(next!.startedAt - killedAt);
  }
  return times;
}

export interface RecoverySummary {
  n: number;
  p50: number;
  max: number;
}

export function summarize(times: readonly number[]): RecoverySummary {
  const sorted = [...times].sort((a, b) => a - b);
  return { n: sorted.length, p50: sorted[Math.floor(sorted.length / 2)] ?? 0, max: sorted.at(-1) ?? 0 };
}

/**
 * Recovery after a series of kills: every job whose attempt a kill cut short started its next
 * attempt within the formula's bound. `landedOn` says what the kills were meant to hit, for the
 * message when none did. Returns the summary for the scenario's report.
 */
export async function expectRecoveredWithinBound(
  jl: JobLedger,
  kills: readonly { lost: readonly LostAttempt[]; killedAt: number }[],
  landedOn: string,
): Promise<RecoverySummary> {
  const times: number[] = [];
  for (const kill of kills) times.push(...(await recoveryTimes(jl, kill.lost, kill.killedAt)));
  const recovery = summarize(times);
  expect(recovery.n, `the kills must land on ${landedOn} attempts`).toBeGreaterThan(0);
  expect(recovery.max, `recovery ${JSON.stringify(recovery)} vs bound ${stallRecoveryBoundMs} ms`).toBeLessThanOrEqual(stallRecoveryBoundMs);
  return recovery;
}
