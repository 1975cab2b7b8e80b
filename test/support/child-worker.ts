/**
 * Runs a worker in a real child process (dist/test/support/fixtures/worker-process.js, so build
 * first: `npm test` does), configured through the environment from a test's Config. The child is
 * tracked by the leak check: closing it SIGKILLs it if it is still alive.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Config, DatabaseDialect } from '../../src/config.js';
import { JobLedger } from '../../src/jobledger.js';
import { testConfig } from './backends.js';
import { scriptedJob, threadScriptedJob } from './fixtures/scripted-job.js';
import { track } from './leak-check.js';

export const workerProcessScript = fileURLToPath(new URL('../../dist/test/support/fixtures/worker-process.js', import.meta.url));
export const producerProcessScript = fileURLToPath(new URL('../../dist/test/support/fixtures/producer-process.js', import.meta.url));
export const enqueueLoopProcessScript = fileURLToPath(new URL('../../dist/test/support/fixtures/enqueue-loop-process.js', import.meta.url));

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildWorker {
  readonly pid: number;
  /** Resolves once the child has exited. */
  readonly exited: Promise<ChildExit>;
  kill(signal: NodeJS.Signals): void;
  /** Resolves when the child prints `line` on stdout (now or earlier); rejects if it exits first. */
  waitForLine(line: string, timeoutMs?: number): Promise<void>;
  /** What the child wrote on stderr so far (its logs, when TEST_LOG_LEVEL is set). */
  stderr(): string;
  /** Every line the child printed on stdout so far. */
  lines(): readonly string[];
  /** SIGKILLs the child if it is still alive and waits for it to exit (done for you once it exits). */
  close(): Promise<void>;
}

/** The environment a child needs to rebuild `config` through `loadConfig()`. */
export function configEnv(config: Readonly<Config>): Record<string, string> {
  return {
    DATABASE_URL: config.database.url,
    REDIS_URL: config.redisUrl,
    JOBLEDGER_REDIS_PREFIX: config.redisPrefix,
    ...(config.redisClusterNodes.length ? { JOBLEDGER_REDIS_CLUSTER_NODES: config.redisClusterNodes.map((n) => `${n.host}:${n.port}`).join(',') } : {}),
    ...(config.redisSentinels.length
      ? { JOBLEDGER_REDIS_SENTINELS: config.redisSentinels.map((n) => `${n.host}:${n.port}`).join(','), JOBLEDGER_REDIS_SENTINEL_MASTER: config.redisSentinelMaster }
      : {}),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ? 'info' : 'silent',
    JOBLEDGER_LOCK_DURATION_MS: String(config.lockDurationMs),
    JOBLEDGER_STALLED_INTERVAL_MS: String(config.stalledIntervalMs),
    JOBLEDGER_MAX_STALLED_COUNT: String(config.maxStalledCount),
    JOBLEDGER_SHUTDOWN_GRACE_MS: String(config.shutdownGraceMs),
    JOBLEDGER_RELAY_INTERVAL_MS: String(config.relayIntervalMs),
    JOBLEDGER_RELAY_GRACE_MS: String(config.relayGraceMs),
    JOBLEDGER_MAX_PAYLOAD_BYTES: String(config.maxPayloadBytes),
    JOBLEDGER_PROGRESS_EVENT_INTERVAL_MS: String(config.progressEventIntervalMs),
    JOBLEDGER_MAX_ERROR_CHARS: String(config.maxErrorChars),
    JOBLEDGER_MAX_LOST_ATTEMPTS: String(config.maxLostAttempts),
    JOBLEDGER_ALLOW_EVICTING_REDIS: String(config.allowEvictingRedis),
    JOBLEDGER_WATCHDOG_INTERVAL_MS: String(config.watchdogIntervalMs),
    JOBLEDGER_WATCHDOG_STUCK_AFTER_MS: String(config.watchdogStuckAfterMs),
    JOBLEDGER_REDIS_ERROR_LOG_INTERVAL_MS: String(config.redisErrorLogIntervalMs),
    JOBLEDGER_DATABASE_RETRY_MS: String(config.databaseRetryMs),
  };
}

/** Starts a child worker on `config`'s database and Redis prefix; resolves once it prints READY. */
export async function startChildWorker(
  config: Readonly<Config>,
  extraEnv: Record<string, string> = {},
  readyTimeoutMs = 30_000,
): Promise<ChildWorker> {
  return startChildProcess(workerProcessScript, 'worker', config, extraEnv, readyTimeoutMs);
}

/**
 * Starts a child producer (fixtures/producer-process.ts) on `config`'s database and Redis prefix;
 * resolves once it prints READY, after which it enqueues (see the fixture for its protocol).
 */
export async function startChildProducer(
  config: Readonly<Config>,
  extraEnv: Record<string, string> = {},
  readyTimeoutMs = 30_000,
): Promise<ChildWorker> {
  return startChildProcess(producerProcessScript, 'producer', config, extraEnv, readyTimeoutMs);
}

/**
 * Starts a child running a plain enqueue loop with try/catch (fixtures/enqueue-loop-process.ts);
 * resolves once it prints READY.
 */
export async function startChildEnqueueLoop(config: Readonly<Config>, extraEnv: Record<string, string> = {}): Promise<ChildWorker> {
  return startChildProcess(enqueueLoopProcessScript, 'enqueue loop', config, extraEnv, 30_000);
}

async function startChildProcess(
  script: string,
  kind: string,
  config: Readonly<Config>,
  extraEnv: Record<string, string>,
  readyTimeoutMs: number,
): Promise<ChildWorker> {
  if (!existsSync(script)) {
    throw new Error(`${script} is missing: run \`npm run build\` before the child-process tests`);
  }
  // The child's loadConfig() rejects unknown JOBLEDGER_* variables: pass only the ones we set.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [script], {
    env: { ...inherited, ...configEnv(config), ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn the ${kind} process`);
  const pid = child.pid;

  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (process.env.TEST_LOG_LEVEL) process.stderr.write(chunk);
  });
  const lines: string[] = [];
  const lineWaiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const wake of lineWaiters) wake();
  });

  let alive = true;
  const exited = new Promise<ChildExit>((resolveExit) => {
    child.on('exit', (code, signal) => {
      alive = false;
      for (const wake of lineWaiters) wake();
      resolveExit({ code, signal });
    });
  });

  const waitForLine = (wanted: string, timeoutMs = 30_000): Promise<void> =>
    new Promise<void>((resolveLine, reject) => {
      const check = (): void => {
        if (lines.includes(wanted)) finish();
        else if (!alive) finish(new Error(`${kind} process exited before printing ${JSON.stringify(wanted)}; stderr:\n${stderr}`));
      };
      const timer = setTimeout(
        () => finish(new Error(`${kind} process did not print ${JSON.stringify(wanted)} within ${timeoutMs} ms; stderr:\n${stderr}`)),
        timeoutMs,
      );
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        lineWaiters.delete(check);
        if (error) reject(error);
        else resolveLine();
      };
      lineWaiters.add(check);
      check();
    });

  const worker: ChildWorker = {
    pid,
    exited,
    kill: (signal) => {
      child.kill(signal);
    },
    waitForLine,
    stderr: () => stderr,
    lines: () => lines,
    close: async () => {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
  track(worker, `child ${kind} process ${pid}`);
  // A process that has exited holds nothing open: it is no leak, whatever made it exit.
  void exited.then(() => worker.close());
  try {
    await waitForLine('READY', readyTimeoutMs);
  } catch (error) {
    await worker.close();
    throw error;
  }
  return worker;
}

/**
 * A fresh backend shared by the test and its child workers: the test opens (and migrates) the ledger
 * first, then children open the same database and Redis prefix from `config`.
 */
export async function openSharedJobLedger(
  dialect: DatabaseDialect,
  overrides: Parameters<typeof testConfig>[1] = {},
): Promise<{ config: Readonly<Config>; jl: JobLedger }> {
  const config = await testConfig(dialect, overrides);
  const jl = track(await JobLedger.open({ jobs: [scriptedJob, threadScriptedJob], config, migrate: true }), `JobLedger(${dialect})`);
  return { config, jl };
}
