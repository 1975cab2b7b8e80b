/**
 * Real child processes for the enqueue race tests (fixtures/race-process.ts, run from dist/, so
 * build first: `npm test` does): producers that take commands on stdin, workers, and a maintenance
 * loop, all on the test's database and Redis prefix. Tracked by the leak check: closing a child
 * SIGKILLs it if it is still alive.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Config } from '../../src/config.js';
import { configEnv } from './child-worker.js';
import { track } from './leak-check.js';

export const raceProcessScript = fileURLToPath(new URL('../../dist/test/support/fixtures/race-process.js', import.meta.url));

export type RaceRole = 'producer' | 'worker' | 'maintenance';

export interface RaceChild {
  readonly pid: number;
  readonly role: RaceRole;
  /** Writes one line to the child's stdin (an object goes as JSON). */
  send(command: object | string): void;
  /** The next line starting with `prefix` that no earlier call returned, without the prefix. */
  next(prefix: string, timeoutMs?: number): Promise<string>;
  /** What the child wrote on stderr so far (its warnings and errors, as pino JSON lines). */
  stderr(): string;
  /** Settles once the child has exited. */
  readonly exited: Promise<void>;
  /** SIGTERM, and waits for the child to exit. */
  stop(): Promise<void>;
  /** SIGKILLs the child if it is still alive and waits for it to exit. */
  close(): Promise<void>;
}

export async function startRaceChild(role: RaceRole, config: Readonly<Config>, env: Record<string, string> = {}): Promise<RaceChild> {
  if (!existsSync(raceProcessScript)) throw new Error(`${raceProcessScript} is missing: run \`npm run build\` first`);
  // The child's loadConfig() rejects unknown JOBLEDGER_* variables: pass only the ones we set.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [raceProcessScript], {
    // Warnings on: a busy or deadlock error that a retry did not absorb shows in the logs (`stderr`).
    env: { ...inherited, ...configEnv(config), LOG_LEVEL: process.env.TEST_LOG_LEVEL ? 'info' : 'warn', RACE_ROLE: role, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not spawn the ${role} process`);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (process.env.TEST_LOG_LEVEL) process.stderr.write(chunk);
  });
  const lines: string[] = [];
  const taken = new Set<number>();
  const waiters = new Set<() => void>();
  const wake = (): void => {
    for (const w of [...waiters]) w();
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    wake();
  });
  let alive = true;
  const exited = new Promise<void>((resolve) =>
    child.on('exit', () => {
      alive = false;
      wake();
      resolve();
    }),
  );
  child.stdin.on('error', () => undefined); // a child that died: its exit is reported by `next`

  const next = (prefix: string, timeoutMs = 60_000): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const index = lines.findIndex((line, i) => !taken.has(i) && line.startsWith(prefix));
        if (index >= 0) {
          taken.add(index);
          finish();
          resolve(lines[index]!.slice(prefix.length).trim());
        } else if (!alive) {
          finish();
          reject(new Error(`${role} process ${child.pid} exited before printing ${prefix}; stderr:\n${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`${role} process ${child.pid} did not print ${prefix} within ${timeoutMs} ms; stderr:\n${stderr}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  const raceChild: RaceChild = {
    pid: child.pid,
    role,
    exited,
    stderr: () => stderr,
    send: (command) => {
      child.stdin.write(`${typeof command === 'string' ? command : JSON.stringify(command)}\n`);
    },
    next,
    stop: async () => {
      if (alive) child.kill('SIGTERM');
      await exited;
    },
    close: async () => {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
  track(raceChild, `race ${role} process ${child.pid}`);
  try {
    await next('READY', 60_000);
  } catch (error) {
    await raceChild.close();
    throw error;
  }
  return raceChild;
}
