/**
 * Secrets never reach a log line (src/log-redaction.ts, src/logger.ts): a real ioredis AUTH error
 * (which carries the password as its command's argument), a real driver error on both backends
 * (whose message inlines the statement's values), secret-looking fields, and messages that name
 * the configured URL; through jobledger's own logger and through a logger the application passes
 * in. And repeated Redis errors are logged once, then counted (src/transport/redis-errors.ts).
 */
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobLedger } from '../src/jobledger.js';
import { RedisErrorLog } from '../src/transport/redis-errors.js';
import { guardLogger, serializeErrorForLog } from '../src/log-redaction.js';
import { createLogger } from '../src/logger.js';
import { Ledger } from '../src/store/ledger.js';
import { backends, testConfig } from './support/backends.js';
import { startPrivateRedis, type PrivateRedis } from './support/fault/redis-server.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { track } from './support/leak-check.js';

const secret = 'hunter2-s3cr3t';

/** A pino destination that keeps the lines. */
function memory(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines };
}

/** The first error a client with `url` emits (a refused AUTH). */
async function authError(url: string): Promise<Error> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const first = new Promise<Error>((resolve) => client.once('error', resolve));
  client.on('error', () => undefined);
  await client.connect().catch(() => undefined);
  client.disconnect();
  return first;
}

async function withRedis<T>(work: (redis: PrivateRedis) => Promise<T>): Promise<T> {
  const redis = await startPrivateRedis({ requirepass: 'the-right-one' });
  try {
    return await work(redis);
  } finally {
    await redis.close();
  }
}

describe('errors as logged', () => {
  it('an ioredis AUTH error keeps the command name and drops its arguments (the password)', async () => {
    await withRedis(async (redis) => {
      const error = await authError(`redis://:${secret}@127.0.0.1:${redis.port}`);
      // The raw error does carry it: this is what used to reach the logs.
      expect(JSON.stringify(error)).toContain(secret);
      const logged = serializeErrorForLog(error) as { command?: unknown; message: string };
      expect(logged.command).toEqual({ name: 'auth' });
      expect(logged.message).toMatch(/WRONGPASS/);
      expect(JSON.stringify(logged)).not.toContain(secret);

      // Through a logger that knows no secret to scrub: the serializer alone keeps it out.
      const out = memory();
      createLogger({ logLevel: 'debug' }, out.stream).warn({ err: error }, 'worker error');
      expect(out.lines).toHaveLength(1);
      expect(out.lines[0]).toContain('WRONGPASS');
      expect(out.lines[0]).not.toContain(secret);
    });
  });

  it('never throws on a hostile error, and masks URLs in messages, stacks, causes and fields', () => {
    const hostile = new Error('x');
    Object.defineProperty(hostile, 'message', { get: () => { throw new Error('no'); } });
    Object.defineProperty(hostile, 'name', { get: () => { throw new Error('no'); } });
    expect(() => serializeErrorForLog(hostile)).not.toThrow();
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    expect(() => serializeErrorForLog(revoked.proxy)).not.toThrow();

    const cause = Object.assign(new Error(`connect to redis://:${secret}@h:6379 failed`), { options: { password: secret } });
    const wrapped = Object.assign(new Error(`opening postgres://app:${secret}@db/x`, { cause }), {
      connectionString: `postgres://app:${secret}@db/x`,
      target: `redis://:${secret}@h:1`,
      args: [secret],
    });
    const text = JSON.stringify(serializeErrorForLog(wrapped));
    expect(text).not.toContain(secret);
    expect(text).toContain('postgres://app:***@db/x');
    expect(text).toContain('redis://:***@h:6379');
  });
});

describe('the logger', () => {
  it('redacts secret fields, masks URL fields and scrubs the configured passwords from every line', () => {
    const out = memory();
    const redisUrl = `redis://:${secret}@cache:6379`;
    const logger = createLogger({ logLevel: 'debug', redisUrl, database: { dialect: 'postgresql', url: `postgres://app:db-${secret}@db/x` } }, out.stream);
    logger.info({ password: 'pw-value-1', config: { redisUrl, token: 'tok-value-1' } }, 'configured');
    logger.child({ jobId: 'job_1' }).warn(`a handler printed the URL ${redisUrl} and the bare ${secret}`);
    logger.error({ reason: `the database password is db-${secret}` }, 'free text');
    const all = out.lines.join('\n');
    expect(out.lines).toHaveLength(3);
    expect(all).not.toContain(secret);
    expect(all).not.toContain('pw-value-1');
    expect(all).not.toContain('tok-value-1');
    expect(all).toContain('redis://:***@cache:6379');
  });

  it('an application logger passed in gets the same error and field redaction', () => {
    const out = memory();
    const own = pino({ level: 'debug' }, out.stream);
    const error = Object.assign(new Error('WRONGPASS invalid username-password pair'), { command: { name: 'auth', args: [secret] } });
    guardLogger(own).warn({ err: error, password: secret }, 'worker error');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]).toContain('"command":{"name":"auth"}');
    expect(out.lines[0]).not.toContain(secret);
  });
});

describe.each(backends)('on %s', (dialect) => {
  it('a driver error is logged without the statement and the values it inlines', async () => {
    const config = await testConfig(dialect);
    const ledger = await Ledger.open(config.database, { migrate: true });
    try {
      const error = await ledger.read((sql) => sql.all('SELECT * FROM no_such_table WHERE x = ?', [secret])).catch((e: unknown) => e);
      // The ledger wraps the driver's error, whose message inlines the bound values.
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message)).not.toContain(secret);
      const text = JSON.stringify(serializeErrorForLog(error));
      expect(text).not.toContain(secret);
      expect(text).toMatch(dialect === 'sqlite' ? /no such table: no_such_table/ : /42P01/); // the database's own reason is kept
    } finally {
      await ledger.close();
    }
  });

  it("a JobLedger with a refused Redis password logs it through the application's logger without the password", async () => {
    await withRedis(async (redis) => {
      const out = memory();
      const config = await testConfig(dialect, { REDIS_URL: `redis://:${secret}@127.0.0.1:${redis.port}` });
      const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, migrate: true, logger: pino({ level: 'debug' }, out.stream) }), 'JobLedger');
      for (let i = 0; i < 100 && !out.lines.some((l) => l.includes('WRONGPASS')); i++) await new Promise((r) => setTimeout(r, 50));
      await jl.close();
      expect(out.lines.join('\n')).toContain('WRONGPASS');
      expect(out.lines.join('\n')).not.toContain(secret);
    });
  });
});

describe('repeated Redis errors', () => {
  afterEach(() => vi.useRealTimers());

  it('are logged once, then once per interval with their count, from every connection', () => {
    vi.useFakeTimers();
    const out = memory();
    const log = new RedisErrorLog(createLogger({ logLevel: 'debug' }, out.stream), { intervalMs: 1000, url: `redis://:${secret}@h:1` });
    const wrongpass = Object.assign(new Error('WRONGPASS invalid username-password pair or user is disabled.'), { command: { name: 'auth', args: [secret] } });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    for (let i = 0; i < 50; i++) log.report(i % 2 ? 'producer' : 'consumer default', wrongpass);
    for (let i = 0; i < 20; i++) log.report('watchdog', refused);
    expect(out.lines).toHaveLength(2); // the first of each kind, at once
    vi.advanceTimersByTime(1000);
    const lines = out.lines.map((l) => JSON.parse(l) as { level: number; repeats?: number; sources?: string[]; kind?: string });
    expect(lines.filter((l) => l.repeats !== undefined).map((l) => [l.kind, l.repeats, l.sources])).toEqual(
      expect.arrayContaining([
        ['auth', 49, ['consumer default', 'producer']],
        ['connection', 19, ['watchdog']],
      ]),
    );
    expect(lines[0]!.level).toBe(50); // a refused password is an error, not a passing warning
    // A quiet interval ends the episode; the next error is logged at once again.
    vi.advanceTimersByTime(1000);
    const before = out.lines.length;
    log.report('producer', wrongpass);
    expect(out.lines).toHaveLength(before + 1);
    log.close();
    expect(out.lines.join('\n')).not.toContain(secret);
  });
});
