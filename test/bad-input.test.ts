import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import {
  InvalidConfigError,
  InvalidOptionError,
  InvalidPayloadError,
  JobLedgerClosedError,
  JobLedgerError,
  UnknownJobError,
  type ErrorCode,
} from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import type { JobLedger } from '../src/jobledger.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';
import { openRedisProbe } from './support/redis.js';

const orderJob = defineJob({
  name: 'test.order',
  schema: z.object({ customer: z.object({ id: z.string(), email: z.email() }), amount: z.number().int().positive() }),
  handler: () => null,
});
const goodOrder = { customer: { id: '42', email: 'a@example.com' }, amount: 5 };

interface BadCase {
  what: string;
  call: (jl: JobLedger) => Promise<unknown>;
  error: abstract new (...args: never[]) => JobLedgerError;
  code: ErrorCode;
  /** Every fragment must appear in the message: the field, and what came. */
  says: string[];
  env?: Record<string, string>;
}

const circular: Record<string, unknown> = { name: 'loop' };
circular.self = circular;
const succeed = (extra: Record<string, unknown> = {}) => ({ action: 'succeed', ...extra });

const cases: BadCase[] = [
  { what: 'an unknown job name', call: (jl) => jl.enqueue('test.nope', {}), error: UnknownJobError, code: 'JOBLEDGER_UNKNOWN_JOB', says: ['"test.nope"', 'test.order, test.scripted'] },
  { what: 'a payload failing its schema', call: (jl) => jl.enqueue('test.scripted', { action: 'dance' }), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.scripted.action:', '"dance"'] },
  {
    what: 'a nested payload field failing its schema',
    call: (jl) => jl.enqueue('test.order', { ...goodOrder, customer: { id: '42', email: 'bob' } }),
    error: InvalidPayloadError,
    code: 'JOBLEDGER_INVALID_PAYLOAD',
    says: ['test.order.customer.email:', '"bob"'],
  },
  { what: 'NaN for a number field', call: (jl) => jl.enqueue('test.order', { ...goodOrder, amount: Number.NaN }), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.order.amount:', 'got NaN'] },
  { what: 'a missing payload field', call: (jl) => jl.enqueue('test.order', { customer: goodOrder.customer }), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.order.amount:', 'undefined'] },
  { what: 'a BigInt in the payload', call: (jl) => jl.enqueue('test.scripted', succeed({ result: { total: 10n } })), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.scripted.result.total:', 'BigInt', '10n'] },
  { what: 'a function in the payload', call: (jl) => jl.enqueue('test.scripted', succeed({ result: [1, () => 2] })), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.scripted.result[1]:', 'function'] },
  { what: 'a circular payload', call: (jl) => jl.enqueue('test.scripted', succeed({ result: circular })), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.scripted.result.self:', 'circular'] },
  {
    what: 'an oversize payload',
    call: (jl) => jl.enqueue('test.scripted', succeed({ tag: 'x'.repeat(2000) })),
    error: InvalidPayloadError,
    code: 'JOBLEDGER_INVALID_PAYLOAD',
    says: ['test.scripted.payload:', 'at most 1024 bytes', 'got 20'],
    env: { JOBLEDGER_MAX_PAYLOAD_BYTES: '1024' },
  },
  { what: 'a NUL character in a payload string', call: (jl) => jl.enqueue('test.scripted', succeed({ tag: 'a\u0000b' })), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.scripted.tag:', 'NUL'] },
  { what: 'a NUL character in a payload key', call: (jl) => jl.enqueue('test.scripted', succeed({ result: { 'a\u0000b': 1 } })), error: InvalidPayloadError, code: 'JOBLEDGER_INVALID_PAYLOAD', says: ['test.scripted.result:', 'NUL'] },
  {
    what: 'a bulk call given one request instead of a list',
    call: (jl) => jl.enqueueBulk({ name: 'test.scripted', payload: succeed() } as never),
    error: InvalidOptionError,
    code: 'JOBLEDGER_INVALID_OPTION',
    says: ['enqueueBulk:', 'a list of', '"test.scripted"'],
  },
  { what: 'a negative delay', call: (jl) => jl.enqueue('test.scripted', succeed(), { delayMs: -1 }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['delayMs:', 'got -1'] },
  { what: 'a non-integer delay', call: (jl) => jl.enqueue('test.scripted', succeed(), { delayMs: 1.5 }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['delayMs:', 'got 1.5'] },
  { what: 'a negative priority', call: (jl) => jl.enqueue('test.scripted', succeed(), { priority: -1 }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['priority:', '0 to 2097152', 'got -1'] },
  { what: 'a priority past BullMQ\'s lowest', call: (jl) => jl.enqueue('test.scripted', succeed(), { priority: 2_097_153 }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['priority:', 'got 2097153'] },
  { what: 'fewer than one attempt', call: (jl) => jl.enqueue('test.scripted', succeed(), { maxAttempts: 0 }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['maxAttempts:', 'got 0'] },
  { what: 'a malformed run id', call: (jl) => jl.enqueue('test.scripted', succeed(), { runId: 'run-7' }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['runId:', '"run-7"'] },
  {
    what: 'an unknown enqueue option',
    call: (jl) => jl.enqueue('test.scripted', succeed(), { delay: 100 } as never),
    error: InvalidOptionError,
    code: 'JOBLEDGER_INVALID_OPTION',
    says: ['delay:', 'one of the enqueue options', '"delay"'],
  },
  {
    what: 'an EntityManager passed as an option instead of through transaction()',
    call: (jl) => jl.enqueue('test.scripted', succeed(), { em: jl.ledger.orm.em.fork() } as never),
    error: InvalidOptionError,
    code: 'JOBLEDGER_INVALID_OPTION',
    says: ['em:', 'one of the enqueue options'],
  },
  { what: 'a malformed backoff', call: (jl) => jl.enqueue('test.scripted', succeed(), { backoff: { type: 'linear', delayMs: 5 } as never }), error: InvalidOptionError, code: 'JOBLEDGER_INVALID_OPTION', says: ['backoff.type:', '"linear"'] },
  {
    what: 'one bad item among good ones in a bulk call',
    call: (jl) =>
      jl.enqueueBulk([
        { name: 'test.scripted', payload: succeed() },
        { name: 'test.order', payload: goodOrder },
        { name: 'test.order', payload: { ...goodOrder, amount: -3 } },
        { name: 'test.scripted', payload: succeed() },
      ]),
    error: InvalidPayloadError,
    code: 'JOBLEDGER_INVALID_PAYLOAD',
    says: ['test.order.amount:', 'got -3'],
  },
];

describe.each(backends)('rejected enqueues on %s', (dialect) => {
  it.each(cases)('rejects $what and writes nothing to the ledger or Redis', async ({ call, error, code, says, env }) => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, orderJob], ...(env ? { env } : {}) });
    const probe = openRedisProbe(jl);
    const thrown = await call(jl).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(thrown).toBeInstanceOf(error);
    const typed = thrown as JobLedgerError;
    expect(typed.code).toBe(code);
    expect(typed.message.startsWith(`${code}: `)).toBe(true);
    for (const fragment of says) expect(typed.message).toContain(fragment);

    // A flush would carry anything committed to Redis: there must be nothing to carry.
    expect(await jl.flushOutbox()).toEqual({ dispatched: [], deferred: [] });
    expect(await jl.ledger.countRows('jobs')).toBe(0);
    expect(await jl.ledger.countRows('events')).toBe(0);
    expect(await probe.keys()).toEqual([]);
    await probe.close();
    await jl.close();
  });
});

describe.each(backends)('a closed JobLedger on %s', (dialect) => {
  it('refuses every call with JOBLEDGER_CLOSED, naming the call, rather than a pool error', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const { id } = await jl.enqueue('test.scripted', succeed());
    await jl.close();
    const calls: [string, () => unknown][] = [
      ['enqueue', () => jl.enqueue('test.scripted', succeed())],
      ['enqueueBulk', () => jl.enqueueBulk([{ name: 'test.scripted', payload: succeed() }])],
      ['cancel', () => jl.cancel({ jobId: id, actor: 'test', reason: 'closed' })],
      ['retry', () => jl.retry({ jobId: id, actor: 'test', reason: 'closed' })],
      ['flushOutbox', () => jl.flushOutbox()],
      ['createWorker', () => jl.createWorker()],
      ['reading the ledger', () => jl.ledger.getJob(id)],
      ['reading the ledger', () => jl.audit()],
      ['reading the ledger', () => jl.search('anything')],
      ['reading the ledger', () => jl.state.get('ns', 'key')],
      ['writing to the ledger', () => jl.maintenance.run('prune')],
    ];
    for (const [action, call] of calls) {
      // A call that throws at once (createWorker) and one that rejects count alike.
      const thrown = await new Promise((resolve) => resolve(call())).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(thrown, action).toBeInstanceOf(JobLedgerClosedError);
      expect((thrown as JobLedgerError).code).toBe('JOBLEDGER_CLOSED');
      expect((thrown as JobLedgerError).message).toContain(`${action}: expected an open JobLedger`);
    }
    // Closing again is harmless.
    await jl.close();
  });
});

describe('rejected worker options', () => {
  const badOptions: [string, unknown, string[]][] = [
    ['no concurrency', { concurrency: 0 }, ['createWorker.concurrency:', '1 to 10000', 'got 0']],
    ['a fractional concurrency', { concurrency: 1.5 }, ['createWorker.concurrency:', 'got 1.5']],
    ['a concurrency given as text', { concurrency: '8' }, ['createWorker.concurrency:', 'got "8"']],
    ['one queue name instead of a list', { queues: 'default' }, ['createWorker.queues:', 'a non-empty list', 'got "default"']],
    ['an empty list of queues', { queues: [] }, ['createWorker.queues:', 'got []']],
    ['a queue no job type of the process uses', { queues: ['default', 'elsewhere'] }, ['createWorker.queues:', "this process's job types (default)", 'got "elsewhere"']],
    ['a misspelt option', { concurrancy: 4 }, ['createWorker.concurrancy:', 'concurrency, queues', 'got "concurrancy"']],
    ['a flag given as text', { bullBoardMirror: 'yes' }, ['createWorker.bullBoardMirror:', 'true or false', 'got "yes"']],
  ];
  it.each(badOptions)('refuses %s at createWorker, not at start()', async (_what, options, says) => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    try {
      let thrown: unknown;
      try {
        jl.createWorker(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidOptionError);
      expect((thrown as JobLedgerError).code).toBe('JOBLEDGER_INVALID_OPTION');
      for (const fragment of says) expect((thrown as JobLedgerError).message).toContain(fragment);
    } finally {
      await jl.close();
    }
  });
});

describe('rejected observability arguments', () => {
  it('refuses a metrics port out of range and an unknown event type with coded errors', async () => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    try {
      const port = await jl.serveMetrics({ port: 70_000 }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(port).toBeInstanceOf(InvalidOptionError);
      expect((port as Error).message).toContain('port: expected a whole number from 0 to 65535');
      expect(() => jl.on('job.nope' as never, () => undefined)).toThrow(InvalidOptionError);
    } finally {
      await jl.close();
    }
  });
});

describe('rejected job definitions', () => {
  const base = { schema: z.object({}), handler: () => null };
  it.each([
    ['a name starting with a digit', { ...base, name: '1st.job' }, ['name:', '"1st.job"']],
    ['a name with a space', { ...base, name: 'send email' }, ['name:', '"send email"']],
    ['an unknown backoff type', { ...base, name: 'ok.name', backoff: { type: 'linear', delayMs: 5 } }, ['ok.name.backoff.type:', '"linear"']],
    ['a negative backoff delay', { ...base, name: 'ok.name', backoff: { type: 'fixed', delayMs: -5 } }, ['ok.name.backoff.delayMs:', 'got -5']],
    ['a fractional jitter past 1', { ...base, name: 'ok.name', backoff: { type: 'exponential', delayMs: 5, jitter: 2 } }, ['ok.name.backoff.jitter:', 'got 2']],
  ] as const)('rejects %s', (_, options, says) => {
    let thrown: unknown;
    try {
      defineJob(options as never);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).code).toBe('JOBLEDGER_INVALID_OPTION');
    for (const fragment of says) expect((thrown as Error).message).toContain(fragment);
  });

  it.each([
    ['one job type instead of a list', defineJob({ ...base, name: 'one.job' })],
    ['a list holding something defineJob did not make', ['send-email']],
  ])('refuses %s as JobLedger.open({ jobs }), before anything opens', async (_, jobs) => {
    const thrown = await openTestJobLedger('sqlite', { jobs: jobs as never }).then(
      async (jl) => {
        await jl.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as InvalidOptionError).message).toContain('jobs: expected');
  });
});

describe('rejected configuration', () => {
  function configError(load: () => unknown): InvalidConfigError {
    try {
      load();
    } catch (e) {
      expect(e).toBeInstanceOf(InvalidConfigError);
      expect((e as InvalidConfigError).code).toBe('JOBLEDGER_INVALID_CONFIG');
      return e as InvalidConfigError;
    }
    throw new Error('expected loadConfig to throw');
  }

  it('rejects a malformed JOBLEDGER_LOCK_DURATION_MS', () => {
    expect(configError(() => loadConfig({ JOBLEDGER_LOCK_DURATION_MS: '30s' })).message).toContain('JOBLEDGER_LOCK_DURATION_MS: expected a whole number, got "30s"');
    expect(configError(() => loadConfig({}, { JOBLEDGER_LOCK_DURATION_MS: '5' })).message).toContain('JOBLEDGER_LOCK_DURATION_MS: expected a whole number >= 100, got 5');
  });

  it('rejects an unknown JOBLEDGER_ variable with a did-you-mean', () => {
    const error = configError(() => loadConfig({ JOBLEDGER_LOCK_DURATON_MS: '30000' }));
    expect(error.message).toContain('unknown variable JOBLEDGER_LOCK_DURATON_MS');
    expect(error.message).toContain('did you mean JOBLEDGER_LOCK_DURATION_MS');
  });

  it.each([
    ['an unsupported scheme', 'mysql://root:hunter2@db/app', 'expected sqlite:<path> or postgres://'],
    ['an empty SQLite path', 'sqlite:', 'expected sqlite:<path>, got an empty path'],
    ['a malformed PostgreSQL URL', 'postgres://root:hunter2@[db/app', 'malformed PostgreSQL URL'],
  ])('rejects a DATABASE_URL with %s, without echoing its password', (_, url, says) => {
    const error = configError(() => loadConfig({ DATABASE_URL: url }));
    expect(error.message).toContain('DATABASE_URL:');
    expect(error.message).toContain(says);
    expect(error.message).not.toContain('hunter2');
  });
});
