/**
 * Runs the handlers of job types defined with `threadHandler` in worker threads, so that a handler
 * that computes for seconds does not block the worker's event loop (BullMQ's lock renewal, the
 * other attempts, the ledger writes). Only the handler moves: the attempt's start and outcome are
 * still written by the awaited processor on the main thread (execute-attempt.ts).
 *
 * One thread runs one attempt at a time. A thread whose attempt ended normally is kept, unref'd, for
 * the next attempt of the same module (up to one idle thread per core and module); one whose
 * attempt was stopped (timeout, cancel, shutdown, lost lock) is terminated at once, since a
 * CPU-bound handler would not see an abort signal anyway. Starting a thread costs tens of
 * milliseconds: a thread handler is for work that takes longer than that.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ThreadHandlerError } from '../errors.js';
import type { JobType } from '../jobs/define-job.js';
import type { Logger } from '../logger.js';
import type { AttemptAbort } from './attempt-abort.js';
import type { AttemptContext } from './attempt-context.js';
import type { AttemptResult } from './classify-outcome.js';
import { decodeThrown, encodeThrown, type FromThread, type ThreadData, type ToThread } from './thread-protocol.js';

/** Loads tsx first when the entry or the handler module is TypeScript, then the entry. CommonJS. */
const bootstrap = `
const { workerData } = require('node:worker_threads');
(workerData.tsxUrl ? import(workerData.tsxUrl).then((tsx) => tsx.register()) : Promise.resolve()).then(() => import(workerData.entryUrl));
`;

/** thread-entry next to this module: compiled (.js), or the source when run through tsx or vitest. */
function entryUrl(): { url: string; typescript: boolean } {
  const js = new URL('./thread-entry.js', import.meta.url);
  if (existsSync(fileURLToPath(js))) return { url: js.href, typescript: false };
  return { url: new URL('./thread-entry.ts', import.meta.url).href, typescript: true };
}

/** tsx's ESM API, resolved from here (a thread's bare import would resolve from the working directory). */
function tsxRegisterUrl(): string {
  return import.meta.resolve('tsx/esm/api');
}

export class ThreadHandlers {
  private readonly idle = new Map<string, Worker[]>();
  private readonly threads = new Set<Worker>();
  private readonly maxIdlePerModule = availableParallelism();
  private closed = false;

  constructor(private readonly logger: Logger) {}

  /** Threads alive now: running an attempt, or idle for the next one. */
  get count(): number {
    return this.threads.size;
  }

  /** Throws `ThreadHandlerError` for a thread job type whose module file does not exist. */
  static check(types: readonly JobType[]): void {
    for (const type of types) {
      if (type.threadHandler !== null && !existsSync(fileURLToPath(type.threadHandler))) {
        throw new ThreadHandlerError(type.name, `its threadHandler module ${type.threadHandler} does not exist`);
      }
    }
  }

  /**
   * Runs one attempt of `type`'s thread handler: what it returned or threw. When `stop` settles
   * first, the thread is terminated (the caller has taken the stop as the attempt's result).
   */
  run(type: JobType, payload: unknown, ctx: AttemptContext, stop: AttemptAbort): Promise<AttemptResult> {
    if (this.closed) return Promise.resolve({ kind: 'threw', error: new ThreadHandlerError(type.name, 'the worker is closed') });
    const moduleUrl = type.threadHandler!;
    const thread = this.take(moduleUrl);
    return new Promise<AttemptResult>((resolve) => {
      const reject = (error: unknown): void => resolve({ kind: 'threw', error });
      let done = false;
      // A state write the main thread refused fails the attempt, as it would have at the call.
      let refusedWrite: { error: unknown } | undefined;
      const finish = (reuse: boolean): void => {
        done = true;
        thread.off('message', onMessage).off('error', onError).off('exit', onExit);
        if (reuse) this.giveBack(moduleUrl, thread);
        else void this.end(thread);
      };
      const reply = (message: ToThread): void => {
        if (!done) thread.postMessage(message);
      };
      const onMessage = (message: FromThread): void => {
        switch (message.type) {
          case 'result':
            finish(true);
            if (refusedWrite) reject(refusedWrite.error);
            else resolve({ kind: 'returned', value: message.value });
            return;
          case 'error':
            finish(true);
            reject(decodeThrown(message.error));
            return;
          case 'log': {
            const log = Object.keys(message.bindings).length > 0 ? ctx.logger.child(message.bindings) : ctx.logger;
            const write: (...args: unknown[]) => void = log[message.level].bind(log);
            write(...message.args);
            return;
          }
          case 'call': {
            const { id, method, args } = message;
            const answer =
              method === 'progress'
                ? ctx.progress(args[0] as number | Record<string, unknown>)
                : (ctx.state[method === 'state.get' ? 'get' : 'find'] as (...a: unknown[]) => Promise<unknown>)(...args);
            answer.then(
              (value) => reply({ type: 'reply', id, ok: true, value }),
              (error: unknown) => reply({ type: 'reply', id, ok: false, error: encodeThrown(error) }),
            );
            return;
          }
          case 'write':
            try {
              (ctx.state[message.method] as (...a: unknown[]) => void)(...message.args);
            } catch (error) {
              refusedWrite ??= { error };
            }
            return;
        }
      };
      // An exception the handler did not catch (in a callback, say): the thread is ending with it.
      const onError = (error: Error): void => {
        finish(false);
        reject(error);
      };
      const onExit = (code: number): void => {
        finish(false);
        reject(new ThreadHandlerError(type.name, `its thread exited (code ${code}) before the handler returned`));
      };
      thread.on('message', onMessage).on('error', onError).on('exit', onExit);
      stop.onStop(() => {
        if (done) return;
        finish(false);
        reject(new ThreadHandlerError(type.name, `stopped (${stop.reason ?? 'timeout'}); its thread was terminated`));
      });
      thread.postMessage({ type: 'run', payload, info: { jobId: ctx.jobId, name: ctx.name, attempt: ctx.attempt, runId: ctx.runId } } satisfies ToThread);
    });
  }

  /** Terminates every thread, idle or running (the worker has aborted its attempts by now). */
  async close(): Promise<void> {
    this.closed = true;
    this.idle.clear();
    await Promise.all([...this.threads].map((thread) => this.end(thread)));
  }

  private take(moduleUrl: string): Worker {
    const thread = this.idle.get(moduleUrl)?.pop();
    if (thread) {
      thread.ref();
      return thread;
    }
    const entry = entryUrl();
    const typescript = entry.typescript || /\.[cm]?ts$/.test(moduleUrl);
    const data: ThreadData = { moduleUrl, entryUrl: entry.url, tsxUrl: typescript ? tsxRegisterUrl() : null };
    const spawned = new Worker(bootstrap, { eval: true, workerData: data });
    this.threads.add(spawned);
    spawned.once('exit', () => {
      this.threads.delete(spawned);
      const idle = this.idle.get(moduleUrl);
      if (idle?.includes(spawned)) idle.splice(idle.indexOf(spawned), 1);
    });
    // Errors are reported to the attempt running in the thread; an idle thread's are only logged.
    spawned.on('error', (error) => this.logger.debug({ err: error, module: moduleUrl }, 'handler thread error'));
    return spawned;
  }

  private giveBack(moduleUrl: string, thread: Worker): void {
    const idle = this.idle.get(moduleUrl) ?? [];
    if (this.closed || idle.length >= this.maxIdlePerModule) {
      void this.end(thread);
      return;
    }
    // An idle thread never keeps the process alive.
    thread.unref();
    idle.push(thread);
    this.idle.set(moduleUrl, idle);
  }

  private async end(thread: Worker): Promise<void> {
    this.threads.delete(thread);
    await thread.terminate().catch(() => undefined);
  }
}
