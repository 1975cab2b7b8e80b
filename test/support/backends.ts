/**
 * One fresh ledger database per call (a temporary SQLite file, or a new PostgreSQL database), one
 * fresh Redis key prefix, and a Config with test timings. Every test file runs on both backends.
 * The names carry the run's tag, so that the run's end removes them (cleanup.ts).
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config, type DatabaseDialect } from '../../src/config.js';
import { testPostgresAdminUrl, testRedisUrl } from './services.js';
import { runDirectory, runNames } from './test-run.js';

export const backends: readonly DatabaseDialect[] = ['sqlite', 'postgresql'];

export async function freshDatabaseUrl(dialect: DatabaseDialect): Promise<string> {
  if (dialect === 'sqlite') {
    return `sqlite:${join(runDirectory(), 'ledger.sqlite')}`;
  }
  const adminUrl = await testPostgresAdminUrl();
  const name = `${runNames().databasePrefix}${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A Config for one test: fresh database, fresh Redis prefix, short timings, quiet logs. */
export async function testConfig(
  dialect: DatabaseDialect,
  overrides: Parameters<typeof loadConfig>[1] = {},
): Promise<Readonly<Config>> {
  return loadConfig(
    {},
    {
      DATABASE_URL: await freshDatabaseUrl(dialect),
      REDIS_URL: await testRedisUrl(),
      JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}${randomBytes(5).toString('hex')}`,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      JOBLEDGER_RELAY_INTERVAL_MS: '100',
      JOBLEDGER_RELAY_GRACE_MS: '0',
      JOBLEDGER_SHUTDOWN_GRACE_MS: '2000',
      ...overrides,
    },
  );
}
