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
import { postgresAnswers, postgresCandidates, redisAnswers, redisCandidates } from './services.js';
import { startTestRun, testNames } from './test-run.js';

export function setup(): () => Promise<void> {
  const tag = startTestRun();
  return async () => {
    const steps: [string, () => Promise<number>][] = [
      ['PostgreSQL databases', () => dropDatabases(tag)],
      ['temporary directories', () => Promise.resolve(removeDirectories(tag))],
      ['Redis keys', () => deleteRedisKeys(tag)],
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

async function dropDatabases(tag: string): Promise<number> {
  const url = await firstAnswering(postgresCandidates(), postgresAnswers);
  if (!url) return 0;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [
      testNames.databasePrefix(tag),
    ]);
    // FORCE: a child process a test killed may not have closed its connections yet.
    for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    return rows.length;
  } finally {
    await client.end();
  }
}

function removeDirectories(tag: string): number {
  const prefix = testNames.directoryPrefix(tag);
  const dirs = readdirSync(tmpdir()).filter((name) => name.startsWith(prefix));
  for (const name of dirs) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  return dirs.length;
}

async function deleteRedisKeys(tag: string): Promise<number> {
  const url = await firstAnswering(redisCandidates(), (u) => redisAnswers(u));
  if (!url) return 0;
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${testNames.redisPrefixStart(tag)}*`, 'COUNT', 1000);
      if (keys.length) deleted += await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

async function firstAnswering(urls: readonly string[], answers: (url: string) => Promise<boolean>): Promise<string | undefined> {
  for (const url of urls) if (await answers(url)) return url;
  return undefined;
}
