/**
 * The harness's side of a worker child (worker-child.ts): fork it, wait for its messages, stop it,
 * and make sure it never outlives the harness.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildSettings, FromChild, ToChild } from './protocol.js';

export type StoppedReport = Extract<FromChild, { type: 'stopped' }>;
export type CheckpointReport = Extract<FromChild, { type: 'checkpoint' }>;

export interface SpawnOptions {
  /** Write a CPU profile of the child into this directory (`node --cpu-prof`). */
  profileDir?: string | undefined;
  /** Let the child force a GC before its RSS checkpoints (`node --expose-gc`). */
  exposeGc?: boolean;
  /** Further Node.js/V8 flags (`--node-flags`). */
  nodeFlags?: readonly string[];
  onCheckpoint?: (report: CheckpointReport) => void;
}

const childPath = fileURLToPath(new URL('./worker-child.js', import.meta.url));
const live = new Set<ChildProcess>();

export class WorkerChild {
  private readonly waiters = new Map<FromChild['type'], (message: FromChild) => void>();
  private failure: Error | undefined;
  private handledAllAt: Promise<number> | undefined;
  private readonly failed: Promise<never>;
  /** Where the child serves /metrics, if it does (`ChildSettings.observe`). */
  metricsPort: number | undefined;

  private constructor(
    private readonly child: ChildProcess,
    options: SpawnOptions,
  ) {
    let reject: (error: Error) => void = () => undefined;
    this.failed = new Promise<never>((_, r) => (reject = r));
    this.failed.catch(() => undefined); // observed through `expect`
    const fail = (error: Error): void => {
      this.failure ??= error;
      reject(this.failure);
    };
    child.on('message', (message: FromChild) => {
      if (message.type === 'error') return fail(new Error(`worker child failed: ${message.message}`));
      if (message.type === 'checkpoint') return options.onCheckpoint?.(message);
      const waiter = this.waiters.get(message.type);
      this.waiters.delete(message.type);
      waiter?.(message);
    });
    child.on('exit', (code, signal) => {
      live.delete(child);
      fail(new Error(`worker child exited (code ${code ?? 'none'}, signal ${signal ?? 'none'})`));
    });
  }

  /** Forks a worker child and resolves once it is connected and ready to start. */
  static async spawn(settings: ChildSettings, options: SpawnOptions = {}): Promise<WorkerChild> {
    const execArgv = [...(options.exposeGc ? ['--expose-gc'] : []), ...(options.nodeFlags ?? [])];
    if (options.profileDir) {
      mkdirSync(options.profileDir, { recursive: true });
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${options.profileDir}`);
    }
    const child = fork(childPath, [JSON.stringify(settings)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    live.add(child);
    const handle = new WorkerChild(child, options);
    handle.metricsPort = (await handle.expect('ready')).metricsPort;
    return handle;
  }

  /** Starts the worker; resolves with the wall-clock time read just before it started fetching. */
  async start(): Promise<number> {
    const started = this.expect('started');
    this.handledAllAt = this.expect('handledAll').then((m) => m.atMs);
    this.handledAllAt.catch(() => undefined); // observed by whoever awaits `handledAll`, if anyone
    this.send({ type: 'start' });
    return (await started).atMs;
  }

  /** Resolves once the worker has entered the handler of every end-to-end job (after `start`). */
  handledAll(): Promise<number> {
    return this.handledAllAt ?? Promise.reject(new Error('the worker was not started'));
  }

  /** Graceful close; resolves with the child's report once it has closed everything. */
  async stop(): Promise<StoppedReport> {
    const stopped = this.expect('stopped');
    this.send({ type: 'stop' });
    return stopped;
  }

  /** The child's process id (its CPU is read from /proc by the workers-scaling bench). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Ends the child at once (a run that failed). */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  private send(message: ToChild): void {
    this.child.send(message);
  }

  private expect<T extends FromChild['type']>(type: T): Promise<Extract<FromChild, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    const message = new Promise<Extract<FromChild, { type: T }>>((resolve) =>
      this.waiters.set(type, (m) => resolve(m as Extract<FromChild, { type: T }>)),
    );
    return Promise.race([message, this.failed]);
  }
}

/** Kills every worker child still running (the harness is failing or was interrupted). */
export function killLiveChildren(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}
