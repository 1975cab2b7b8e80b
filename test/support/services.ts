/**
 * Where the tests find Redis and PostgreSQL: environment variables first (REDIS_URL,
 * TEST_POSTGRES_URL), then the local default ports, then testcontainers (for machines with Docker).
 * If none answers, the tests fail with a message that says what to start; they are never skipped.
 */
import { Redis } from 'ioredis';
import pg from 'pg';

let redisUrlPromise: Promise<string> | undefined;
let postgresUrlPromise: Promise<string> | undefined;

export function testRedisUrl(): Promise<string> {
  redisUrlPromise ??= findRedis();
  return redisUrlPromise;
}

/** A URL of a PostgreSQL server's maintenance database (used to create one database per test file). */
export function testPostgresAdminUrl(): Promise<string> {
  postgresUrlPromise ??= findPostgres();
  return postgresUrlPromise;
}

const redisCandidates = (): string[] => [process.env.REDIS_URL, 'redis://127.0.0.1:6379'].filter((u): u is string => !!u);
const postgresCandidates = (): string[] =>
  [process.env.TEST_POSTGRES_URL, 'postgres://postgres@127.0.0.1:5432/postgres'].filter((u): u is string => !!u);

/** The first Redis of the environment or the default port that answers; no testcontainers. */
export async function localRedisUrl(): Promise<string | undefined> {
  for (const url of redisCandidates()) if (await redisAnswers(url)) return url;
  return undefined;
}

/** The first PostgreSQL admin URL of the environment or the default port that answers; no testcontainers. */
export async function localPostgresAdminUrl(): Promise<string | undefined> {
  for (const url of postgresCandidates()) if (await postgresAnswers(url)) return url;
  return undefined;
}

async function findRedis(): Promise<string> {
  const local = await localRedisUrl();
  if (local) return local;
  const fromContainer = await tryContainer(async () => {
    const { GenericContainer } = await import('testcontainers');
    const container = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
    return `redis://${container.getHost()}:${container.getMappedPort(6379)}`;
  });
  if (fromContainer) return fromContainer;
  throw new Error(
    `no Redis for the tests: tried ${redisCandidates().join(', ')} and testcontainers. Set REDIS_URL, or start one: ` +
      `redis-server --port 6379 (or docker compose up -d redis)`,
  );
}

async function findPostgres(): Promise<string> {
  const local = await localPostgresAdminUrl();
  if (local) return local;
  const fromContainer = await tryContainer(async () => {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('postgres:16-alpine')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start();
    return `postgres://postgres@${container.getHost()}:${container.getMappedPort(5432)}/postgres`;
  });
  if (fromContainer) return fromContainer;
  throw new Error(
    `no PostgreSQL for the tests: tried ${postgresCandidates().join(', ')} and testcontainers. Set TEST_POSTGRES_URL, or start one ` +
      `(docker compose up -d postgres, or pg_ctlcluster ... start)`,
  );
}

/** True when a Redis at `url` answers PING within `connectTimeoutMs`. */
export async function redisAnswers(url: string, connectTimeoutMs = 1500): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: connectTimeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function postgresAnswers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function tryContainer(start: () => Promise<string>): Promise<string | undefined> {
  try {
    return await start();
  } catch {
    return undefined; // no Docker engine here
  }
}
