/** Opening jobledger for a test, and waiting for ledger states without fixed sleeps. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DatabaseDialect } from '../../src/config.js';
import { JobLedger, type JobLedgerOptions } from '../../src/jobledger.js';
import type { JobStatus } from '../../src/store/lifecycle.js';
import { testConfig } from './backends.js';
import { track } from './leak-check.js';

export async function openTestJobLedger(
  dialect: DatabaseDialect,
  options: Omit<JobLedgerOptions, 'config'> & { env?: Parameters<typeof testConfig>[1] },
): Promise<JobLedger> {
  const config = await testConfig(dialect, options.env);
  const jl = await JobLedger.open({ migrate: true, ...options, config });
  return track(jl, `JobLedger(${dialect})`);
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function waitForStatus(jl: JobLedger, jobId: string, statuses: JobStatus | JobStatus[], timeoutMs?: number) {
  const wanted = Array.isArray(statuses) ? statuses : [statuses];
  return waitFor(
    async () => {
      const job = await jl.ledger.getJob(jobId);
      return wanted.includes(job.status) ? job : undefined;
    },
    `job ${jobId} to be ${wanted.join(' or ')}`,
    timeoutMs,
  );
}
