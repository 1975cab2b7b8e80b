/**
 * Fresh places for one backend run, and leaving nothing behind: a fresh Redis key prefix (its queues
 * obliterated and any stray key deleted afterwards), a fresh SQLite file in a temporary directory or
 * a fresh PostgreSQL database (dropped afterwards; jobledger's or pg-boss's). Cleanups are
 * registered as they are created so that an interrupted or failing run still removes what it made.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { benchQueue } from './protocol.js';
import { usesPostgres, type BackendName } from './options.js';

export interface RunPlace {
  redisPrefix: string;
  /** DATABASE_URL of the fresh ledger (ledger backends) or of pg-boss's database. */
  databaseUrl?: string;
  /** The SQLite file (SQLite only). */
  sqlitePath?: string;
  /** Removes the Redis keys and the database; safe to call twice. */
  dispose(): Promise<void>;
}

/** The `dispose` of every place made, until it has finished. */
const pendingCleanups = new Set<() => Promise<void>>();

/** Disposes of every place not yet disposed of (after a failure or an interrupt). */
export async function runPendingCleanups(): Promise<void> {
  for (const dispose of [...pendingCleanups]) await dispose().catch((error: unknown) => warn(`cleanup failed: ${String(error)}`));
}

export async function preparePlace(backend: BackendName, redisUrl: string, postgresAdminUrl: string): Promise<RunPlace> {
  const tag = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const redisPrefix = `jlbench-${backend}-${tag}`;
  const steps: (() => Promise<void>)[] = [() => removeRedisKeys(redisUrl, redisPrefix)];
  const place: RunPlace = { redisPrefix, dispose: () => Promise.resolve() };
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'jobledger-bench-'));
    place.sqlitePath = join(dir, 'ledger.sqlite');
    place.databaseUrl = `sqlite:${place.sqlitePath}`;
    steps.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
  } else if (usesPostgres(backend)) {
    const name = `jobledger_bench_${tag}`;
    await adminQuery(postgresAdminUrl, `CREATE DATABASE ${name}`);
    const url = new URL(postgresAdminUrl);
    url.pathname = `/${name}`;
    place.databaseUrl = url.toString();
    // WITH (FORCE) (PostgreSQL 13+) ends sessions a crashed child may have left behind.
    steps.push(async () => void (await adminQuery(postgresAdminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
  }
  // The database goes first: dropping it ends any ledger write still in flight, which could
  // otherwise hand a job to Redis after its keys were removed.
  steps.reverse();
  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposed ??= (async () => {
      for (const step of steps) await step();
      pendingCleanups.delete(dispose);
    })());
  pendingCleanups.add(dispose);
  place.dispose = dispose;
  return place;
}

/** Obliterates the bench queue under `prefix`, then deletes any key still under it. */
async function removeRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const queue = new Queue(benchQueue, { connection: { url: redisUrl }, prefix });
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

async function adminQuery(adminUrl: string, statement: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(statement);
  } finally {
    await client.end();
  }
}

/** Versions of the servers, for the report. */
export async function serverVersions(redisUrl: string, postgresAdminUrl: string | undefined): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    versions.redis = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
  } finally {
    await redis.quit();
  }
  if (postgresAdminUrl) {
    const result = await adminQuery(postgresAdminUrl, 'SHOW server_version');
    versions.postgres = (result.rows[0] as { server_version?: string } | undefined)?.server_version ?? 'unknown';
  }
  return versions;
}

export function warn(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}
