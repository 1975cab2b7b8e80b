/**
 * What every fault scenario shares: a private Redis with a proxy in front, a fresh ledger, the test's
 * own JobLedger (producer, relay, reconcile; talking to Redis directly), child workers with scaled
 * down timings, and the end of a scenario (wait until every job is final, then run the checker).
 *
 * Every execution of the scripted handlers, in the test process, in its child processes (which
 * inherit its environment) and in their threads, is counted in a file of the scenario's
 * (`executionsFile`), for the checker to hold the ledger against.
 *
 * Timings (the recovery-time formula in README.md uses the same names): lock 1000 ms, stalled check
 * every 500 ms, relay every 100 ms with no grace, watchdog every 250 ms.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import type { DatabaseDialect } from '../../../src/config.js';
import { JobLedger } from '../../../src/jobledger.js';
import { testConfig } from '../backends.js';
import { startChildWorker, type ChildWorker } from '../child-worker.js';
import { executionsFileVariable, scriptedJob, threadScriptedJob, type Script } from '../fixtures/scripted-job.js';
import { track } from '../leak-check.js';
import { runDirectory } from '../test-run.js';
import { checkScenario, cleanCounts, describeReport, type CheckInput, type CheckReport } from './checker.js';
import { startPrivateRedis, type PrivateRedis, type PrivateRedisOptions } from './redis-server.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/** `npm run soak` sets SOAK=1: the same scenarios with more jobs and more rounds. */
export const soak = process.env.SOAK === '1';

/** `n` jobs (or rounds) normally, five times as many in the soak. */
export function scaled(n: number): number {
  return soak ? n * 5 : n;
}

export const faultTimings = {
  JOBLEDGER_LOCK_DURATION_MS: '1000',
  JOBLEDGER_STALLED_INTERVAL_MS: '500',
  JOBLEDGER_RELAY_INTERVAL_MS: '100',
  JOBLEDGER_RELAY_GRACE_MS: '0',
  JOBLEDGER_WATCHDOG_INTERVAL_MS: '250',
  JOBLEDGER_WATCHDOG_STUCK_AFTER_MS: '2000',
} as const;

export type EnvOverrides = Parameters<typeof testConfig>[1];

export interface FaultBackend {
  readonly dialect: DatabaseDialect;
  readonly redis: PrivateRedis;
  readonly proxy: TcpProxy;
  readonly jl: JobLedger;
  /** The test's Config (Redis directly, not through the proxy). */
  readonly config: JobLedger['config'];
  /** Job ids whose enqueue returned. */
  readonly acknowledged: Set<string>;
  /** Where the scripted handlers count their executions (fixtures/scripted-job.ts). */
  readonly executionsFile: string;
  /** Starts a child worker; `viaProxy` routes its Redis connections through the proxy. */
  startWorker(options?: { concurrency?: number; viaProxy?: boolean; env?: Record<string, string> }): Promise<ChildWorker>;
  /** Enqueues `count` jobs in bulk (batches of 100) from the test process; returns their ids. */
  enqueueMany(count: number, script: (i: number) => Script): Promise<string[]>;
  /**
   * Runs the reconcile task now (what the cron would trigger), returning its counts. With
   * `allowFailure`, a run that failed (Redis still reconnecting) returns `undefined` instead.
   */
  reconcile(options?: { allowFailure?: boolean }): Promise<Record<string, unknown> | undefined>;
  /** Polls until no job in the ledger is unfinished; `onPoll` runs between polls (a reconcile, say). */
  waitAllFinal(options?: { timeoutMs?: number; onPoll?: () => Promise<unknown> }): Promise<void>;
  /** Waits for Redis to settle (no job of a final ledger job still pending there), then checks. */
  check(input?: Partial<CheckInput>): Promise<CheckReport>;
  /** Closes the test's JobLedger, the proxy and the private Redis (children are the test's to close first). */
  close(): Promise<void>;
}

export async function openFaultBackend(
  dialect: DatabaseDialect,
  env: EnvOverrides = {},
  options: { redis?: PrivateRedisOptions; relay?: boolean } = {},
): Promise<FaultBackend> {
  // Set before anything starts, so every handler of the scenario counts: this process's and its children's.
  const executionsFile = join(runDirectory(), 'executions.log');
  process.env[executionsFileVariable] = executionsFile;
  const redis = await startPrivateRedis(options.redis);
  const proxy = await startTcpProxy(redis.port);
  const config = await testConfig(dialect, { REDIS_URL: redis.url, ...faultTimings, ...env });
  const jl = track(await JobLedger.open({ jobs: [scriptedJob, threadScriptedJob], config, migrate: true, relay: options.relay ?? true }), `JobLedger(${dialect})`);
  const acknowledged = new Set<string>();

  const backend: FaultBackend = {
    dialect,
    redis,
    proxy,
    jl,
    config,
    acknowledged,
    executionsFile,
    startWorker: (o = {}) =>
      startChildWorker(config, { REDIS_URL: o.viaProxy ? proxy.url : redis.url, WORKER_CONCURRENCY: String(o.concurrency ?? 10), ...o.env }),
    enqueueMany: async (count, script) => {
      const ids: string[] = [];
      for (let start = 0; start < count; start += 100) {
        const batch = Array.from({ length: Math.min(100, count - start) }, (_, k) => ({ name: 'test.scripted', payload: script(start + k) }));
        for (const job of await jl.enqueueBulk(batch)) {
          ids.push(job.id);
          acknowledged.add(job.id);
        }
      }
      return ids;
    },
    reconcile: async ({ allowFailure = false } = {}) => {
      const result = await jl.maintenance.run('reconcile');
      if (allowFailure && result.outcome === 'failed') return undefined;
      expect(result.outcome, JSON.stringify(result.error)).toBe('succeeded');
      return result.counts ?? {};
    },
    waitAllFinal: async ({ timeoutMs = 60_000, onPoll } = {}) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const counts = await jl.ledger.countJobsByStatus();
        if (counts.pending + counts.queued + counts.delayed + counts.running === 0) return;
        if (Date.now() > deadline) throw new Error(`jobs still unfinished after ${timeoutMs} ms: ${JSON.stringify(counts)}`);
        await onPoll?.();
        await sleep(100);
      }
    },
    check: async (input = {}) => {
      // A job final in the ledger may still be on its way out of Redis (a redelivery that finds it
      // final and completes it there): give Redis a moment to agree before judging.
      let report = await checkScenario({ jl, acknowledged, executionsFile, ...input });
      for (let tries = 0; report.counts.redisDisagrees > 0 && tries < 50; tries++) {
        await sleep(200);
        report = await checkScenario({ jl, acknowledged, executionsFile, ...input });
      }
      return report;
    },
    close: async () => {
      await jl.close();
      await proxy.close();
      await redis.close();
      if (process.env[executionsFileVariable] === executionsFile) delete process.env[executionsFileVariable];
    },
  };
  return backend;
}

/** Asserts a clean report and records it for the suite's summary (FAULT_REPORT=<file> appends JSON lines). */
export function expectClean(scenario: string, backend: Pick<FaultBackend, 'dialect'>, report: CheckReport, extra: Record<string, unknown> = {}): void {
  if (process.env.FAULT_REPORT) {
    appendFileSync(process.env.FAULT_REPORT, `${JSON.stringify({ scenario, backend: backend.dialect, ...report, ...extra })}\n`);
  }
  expect(report.counts, describeReport(report)).toEqual(cleanCounts);
}

/** Statuses of the given jobs, as a count per status. */
export async function statusesOf(jl: JobLedger, ids: readonly string[]): Promise<Record<string, number>> {
  const wanted = new Set(ids);
  const counts: Record<string, number> = {};
  const rows = await jl.ledger.read((sql) => sql.all('SELECT id, status FROM jobs'));
  for (const row of rows) if (wanted.has(row.id as string)) counts[row.status as string] = (counts[row.status as string] ?? 0) + 1;
  return counts;
}

/** A random whole number in [min, max]. */
export function between(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}
