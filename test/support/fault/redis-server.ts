/**
 * A Redis of the test's own: `redis-server` on a free port in a temporary directory, without
 * persistence (`--save "" --appendonly no`), so that a restart comes back empty like a lost Redis.
 * The fault tests kill, restart and flush it; the shared Redis on 6379 is never touched. Tracked by
 * the leak check: closing it SIGKILLs the server and removes its directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { redisAnswers } from '../services.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { track } from '../leak-check.js';

export interface PrivateRedisOptions {
  /** Default `noeviction`. */
  maxmemoryPolicy?: string;
  /** Start with `requirepass` set to this (the URLs then carry it as `redis://:password@...`). */
  requirepass?: string;
}

export interface PrivateRedis {
  readonly port: number;
  /** With the password the server was started with (if any). */
  readonly url: string;
  /** The URL with the password the server requires now. */
  readonly currentUrl: string;
  /**
   * Changes the password (CONFIG SET requirepass) and closes every client connection, as an
   * operator rotating a leaked password does: clients reconnect and meet the new password.
   */
  rotatePassword(next: string): Promise<void>;
  /** Makes the server a replica of a server that does not exist: every write is answered READONLY. */
  answerWritesWithErrors(): Promise<void>;
  /** SIGKILLs the server (nothing is saved) and waits for it to exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty; resolves once it answers PING. */
  restart(): Promise<void>;
  /** FLUSHALL: every key of every prefix gone, the server up. */
  flushAll(): Promise<void>;
  /** Runs `work` with a short-lived client (for CONFIG SET, ACL, inspection). */
  withClient<T>(work: (redis: Redis) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * Runs `work` on a fresh connection to the server on `port` of this host, one attempt with no
 * retries, and closes it: for probing servers the tests start and kill.
 */
export async function withServerAt<T>(port: number, work: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-redis-'));
  const port = await freePort();
  const urlWith = (password: string | undefined): string =>
    password === undefined ? `redis://127.0.0.1:${port}` : `redis://:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const url = urlWith(options.requirepass);
  let password = options.requirepass;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const launch = async (): Promise<void> => {
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--maxmemory-policy', options.maxmemoryPolicy ?? 'noeviction', '--daemonize', 'no', '--loglevel', 'warning',
      ...(password === undefined ? [] : ['--requirepass', password]),
    ];
    const started = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child = started;
    exited = new Promise((resolve) => started.once('exit', () => resolve()));
    const deadline = Date.now() + 10_000;
    while (!(await redisAnswers(urlWith(password), 500))) {
      if (started.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start: ${stderr}`);
      await sleep(20);
    }
  };

  const kill = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    child = undefined;
  };

  const withClient = async <T>(work: (redis: Redis) => Promise<T>): Promise<T> => {
    const redis = new Redis(urlWith(password), { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      return await work(redis);
    } finally {
      redis.disconnect();
    }
  };

  await launch();
  return track(
    {
      port,
      url,
      get currentUrl() {
        return urlWith(password);
      },
      rotatePassword: (next: string) =>
        withClient(async (redis) => {
          await redis.config('SET', 'requirepass', next);
          password = next;
          // Every connection but this one (SKIPME is the default): normal clients and subscribers.
          await redis.client('KILL', 'TYPE', 'normal');
          await redis.client('KILL', 'TYPE', 'pubsub');
        }),
      answerWritesWithErrors: () =>
        withClient(async (redis) => {
          // Port 1 never answers: the server stays a replica trying to sync, and refuses writes.
          await redis.call('REPLICAOF', '127.0.0.1', '1');
        }),
      kill,
      restart: async () => {
        await kill();
        await launch();
      },
      flushAll: () => withClient(async (redis) => void (await redis.flushall())),
      withClient,
      close: async () => {
        await kill();
        rmSync(dir, { recursive: true, force: true });
      },
    },
    `redis-server :${port}`,
  );
}
