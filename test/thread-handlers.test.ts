/**
 * Job types whose handler runs in a worker thread (`threadHandler`): what crosses the thread (the
 * payload, the result, a thrown error classified as on the main thread, log lines, progress, state
 * reads and buffered writes), that a stopped attempt's thread is terminated, and that a thread that
 * dies fails only its attempt. The ledger's writes stay on the main thread, so the attempt rows
 * and events are those of any other job.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ThreadHandlerError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { ThreadHandlers } from '../src/workers/thread-handlers.js';
import { createLogger } from '../src/logger.js';
import { backends } from './support/backends.js';
import { scriptedJob, threadScriptedJob, type Script } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { runDirectory } from './support/test-run.js';
import { z } from 'zod';

/** A pino logger whose JSON lines land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return createLogger({ logLevel: 'info' }, stream);
}

/** A thread job type whose module uses ctx.state: it reads a key and buffers a write to it. */
const stateModule = `
export default async function (payload, ctx) {
  const before = await ctx.state.find('thread-test', payload.key);
  ctx.state.set('thread-test', payload.key, { count: (before?.data?.count ?? 0) + 1, by: ctx.jobId });
  if (payload.fail) throw new Error('failing after a buffered write');
  return { before: before?.data ?? null };
}
`;

describe.each(backends)('thread handlers on %s', (dialect) => {
  it('runs the handler in a thread: result, errors, logs and progress cross it; the ledger records as usual', async () => {
    const lines: Record<string, unknown>[] = [];
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, threadScriptedJob], logger: capturingLogger(lines) });
    const worker = jl.createWorker({ concurrency: 4 });
    await worker.start();
    const enqueue = (script: Script, options = {}) => jl.enqueue('test.scripted-thread', script, options).then((j) => j.id);
    const ok = await enqueue({ action: 'succeed' });
    const busy = await enqueue({ action: 'busy', ms: 300 });
    const permanent = await enqueue({ action: 'throw-permanent' });
    const plain = await enqueue({ action: 'throw-string' }, { maxAttempts: 1 });
    const retried = await enqueue({ action: 'fail-until', succeedOnAttempt: 2 });
    const progress = await enqueue({ action: 'progress' });

    expect((await waitForStatus(jl, ok, 'completed')).result).toEqual({ ok: true, attempt: 1, inThread: true });
    expect((await waitForStatus(jl, busy, 'completed')).result).toMatchObject({ attempt: 1 });
    const failed = await waitForStatus(jl, permanent, ['failed', 'completed']);
    expect(failed).toMatchObject({ status: 'failed', attemptsStarted: 1 });
    expect(failed.statusReason).toBe('permanent failure: scripted permanent failure');
    expect(failed.lastError).toMatchObject({ name: 'PermanentJobError', message: 'scripted permanent failure' });
    expect((await waitForStatus(jl, plain, ['failed', 'completed'])).lastError).toMatchObject({ thrown: '"a plain string"' });
    expect((await waitForStatus(jl, retried, 'completed')).result).toEqual({ attempt: 2 });
    expect((await jl.ledger.getJobDetail(retried)).attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
    const withProgress = await waitForStatus(jl, progress, 'completed');
    expect(withProgress.progress).toBe(100);

    // The handler's log line went through the attempt's logger on the main thread.
    const logged = lines.find((l) => l.msg === 'computing');
    expect(logged).toMatchObject({ level: 30, jobId: busy, job: 'test.scripted-thread', attempt: 1, ms: 300 });
    // Threads are kept for the next attempt, unref'd.
    expect(worker.handlerThreadCount).toBeGreaterThan(0);
    await jl.close();
    expect(worker.handlerThreadCount).toBe(0);
  });

  it('terminates the thread of an attempt that timed out or was cancelled; a thread that exits fails only its attempt', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, threadScriptedJob] });
    const worker = jl.createWorker({ concurrency: 4 });
    await worker.start();
    const timedOut = (await jl.enqueue('test.scripted-thread', { action: 'hang' }, { timeoutMs: 300, maxAttempts: 1 })).id;
    const job = await waitForStatus(jl, timedOut, ['failed', 'completed']);
    expect(job.lastError).toMatchObject({ name: 'TimeoutError' });
    expect((await jl.ledger.getJobDetail(timedOut)).attempts.map((a) => a.status)).toEqual(['timed_out']);

    const cancelled = (await jl.enqueue('test.scripted-thread', { action: 'hang' })).id;
    await waitForStatus(jl, cancelled, 'running');
    await waitFor(() => Promise.resolve(worker.handlerThreadCount > 0 ? true : undefined), 'the hanging thread to start');
    await jl.cancel({ jobId: cancelled, reason: 'stop computing', actor: 'test' });
    await waitForStatus(jl, cancelled, 'cancelled');
    // Both computing threads were terminated: nothing hangs on.
    await waitFor(() => Promise.resolve(worker.handlerThreadCount === 0 ? true : undefined), 'the threads to be terminated');

    const exited = (await jl.enqueue('test.scripted-thread', { action: 'exit' }, { maxAttempts: 1 })).id;
    const dead = await waitForStatus(jl, exited, ['failed', 'completed']);
    expect(dead.lastError).toMatchObject({ name: 'ThreadHandlerError', code: 'JOBLEDGER_THREAD_HANDLER' });
    expect((dead.lastError as { message: string }).message).toMatch(/thread exited \(code 86\) before the handler returned/);
    // The process (this test's) is alive and the worker runs the next job.
    const after = (await jl.enqueue('test.scripted-thread', { action: 'succeed' })).id;
    await waitForStatus(jl, after, 'completed');
    await jl.close();
  });

  it('reads state from the thread and applies its buffered writes with the outcome, only if the attempt completes', async () => {
    const module = (name: string, source: string): string => writeModule(join(runDirectory(), `${name}-${dialect}.mjs`), source);
    const stateJob = defineJob({
      name: 'test.thread-state',
      schema: z.object({ key: z.string(), fail: z.boolean() }),
      maxAttempts: 1,
      threadHandler: module('state-handler', stateModule),
    });
    const refusedJob = defineJob({
      name: 'test.thread-refused',
      schema: z.object({}),
      maxAttempts: 1,
      threadHandler: module('refused-handler', `export default (payload, ctx) => { ctx.state.set('', 'k', 1); return 'done'; }`),
    });
    const jl = await openTestJobLedger(dialect, { jobs: [stateJob, refusedJob] });
    await jl.createWorker({ concurrency: 1 }).start();
    await jl.state.set('thread-test', 'a', { count: 41 });

    const first = (await jl.enqueue('test.thread-state', { key: 'a', fail: false })).id;
    expect((await waitForStatus(jl, first, 'completed')).result).toEqual({ before: { count: 41 } });
    expect((await jl.state.get('thread-test', 'a')).data).toEqual({ count: 42, by: first });

    const failing = (await jl.enqueue('test.thread-state', { key: 'a', fail: true })).id;
    await waitForStatus(jl, failing, 'failed');
    expect((await jl.state.get('thread-test', 'a')).data).toEqual({ count: 42, by: first });

    // A write the main thread refuses (an empty namespace) fails the attempt once the handler returns.
    const refused = (await jl.enqueue('test.thread-refused', {})).id;
    const job = await waitForStatus(jl, refused, ['failed', 'completed']);
    expect(job.status).toBe('failed');
    expect(job.lastError).toMatchObject({ name: 'InvalidOptionError', code: 'JOBLEDGER_INVALID_OPTION' });
    await jl.close();
  });
});

function writeModule(path: string, source: string): string {
  writeFileSync(path, source);
  return path;
}

describe('defining a thread job type', () => {
  const schema = z.object({});
  const define = (options: Record<string, unknown>) => () => defineJob({ name: 'test.t', schema, ...options } as unknown as Parameters<typeof defineJob>[0]);

  it('takes a file: URL or an absolute path, never both a handler and a thread handler, nor neither', () => {
    const url = new URL('./support/fixtures/scripted-thread-handler.ts', import.meta.url);
    expect(defineJob({ name: 'test.t', schema, threadHandler: url }).threadHandler).toBe(url.href);
    expect(defineJob({ name: 'test.t', schema, threadHandler: '/srv/app/handler.js' }).threadHandler).toBe('file:///srv/app/handler.js');
    expect(defineJob({ name: 'test.t', schema, handler: () => 1 }).threadHandler).toBeNull();
    expect(define({ threadHandler: './handler.js' })).toThrow(/JOBLEDGER_INVALID_OPTION: test\.t\.threadHandler: expected a file: URL .* or an absolute path, got "\.\/handler\.js"/);
    expect(define({ threadHandler: new URL('https://example.com/h.js') })).toThrow(/test\.t\.threadHandler: expected a file: URL/);
    expect(define({ threadHandler: url, handler: () => 1 })).toThrow(/test\.t\.handler: expected no handler next to threadHandler/);
    expect(define({})).toThrow(/test\.t\.handler: expected a function, got undefined/);
  });

  it('is run by a worker only, and a worker refuses to start without its module', () => {
    const type = defineJob({ name: 'test.t', schema, threadHandler: '/nowhere/handler.js' });
    expect(() => type.handler({}, {} as never)).toThrow(ThreadHandlerError);
    expect(() => ThreadHandlers.check([type])).toThrow(/JOBLEDGER_THREAD_HANDLER: test\.t: its threadHandler module file:\/\/\/nowhere\/handler\.js does not exist/);
    expect(() => ThreadHandlers.check([scriptedJob, threadScriptedJob])).not.toThrow();
  });
});
