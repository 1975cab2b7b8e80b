/**
 * Vitest global setup: tags the run, and at its end removes the databases, temporary directories and
 * Redis keys the run's tests made (test-run.ts). Only services reached without testcontainers are
 * cleaned: a container goes with its data. A failed cleanup is reported, never turned into a failed
 * run: the tests' verdict stands.
 */
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { localPostgresAdminUrl, localRedisUrl } from './services.js';
import { runNames, startTestRun } from './test-run.js';

export function setup(): () => Promise<void> {
  const names = runNames(startTestRun());
  return async () => {
    const steps: [string, () => Promise<void> | void][] = [
      ['PostgreSQL databases', () => dropDatabases(names.databasePrefix)],
      ['temporary directories', () => removeDirectories(names.directoryPrefix)],
      ['Redis keys', () => deleteRedisKeys(names.redisPrefix)],
    ];
    for (const [what, step] of steps) {
      try {
        await step();
      } catch (error) {
        console.warn(`test cleanup: could not remove this run's ${what}: ${(error as Error).message}`);
      }
    }
  };
}

async function dropDatabases(prefix: string): Promise<void> {
  const url = await localPostgresAdminUrl();
  if (!url) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [prefix]);
    // FORCE: a child process a test killed may not have closed its connections yet.
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

function removeDirectories(prefix: string): void {
  for (const name of readdirSync(tmpdir())) if (name.startsWith(prefix)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
}

async function deleteRedisKeys(prefix: string): Promise<void> {
  const url = await localRedisUrl();
  if (!url) return;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
