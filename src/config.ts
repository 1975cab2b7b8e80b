/**
 * Configuration in one place. Environment variables are read only here; the result is one frozen,
 * validated object whose timing fields carry their unit in their name. Unknown `JOBLEDGER_*`
 * variables are rejected with a did-you-mean, so a typo never silently falls back to a default.
 */
import { InvalidConfigError } from './errors.js';
import { maskUrl } from './mask-url.js';
import { sqlitePathFromUrl } from './sqlite-url.js';
import { parseConsoleTokens, type ConsoleToken } from './console-tokens.js';
import { checkClusterPrefix, parseClusterNodes, parseRedisNodes, type RedisNode } from './redis-cluster-config.js';
import { canParseUrl, didYouMean, nonEmpty, parseBoolean, parseHost, parseInteger } from './config-values.js';
import { maintenanceDefaults, parseMaintenance, type MaintenanceConfig } from './config-maintenance.js';
import { coldArchiveDefaults, parseColdArchive, type ColdArchiveConfig } from './config-archive.js';
import { parseStateHot, stateHotDefaults, type StateHotConfig } from './config-state-hot.js';

export { maintenanceTaskNames, type MaintenanceConfig, type MaintenanceTaskName, type MissedTickPolicy } from './config-maintenance.js';
export type { ColdArchiveConfig } from './config-archive.js';
export type { StateHotConfig } from './config-state-hot.js';

/** Default `JOBLEDGER_MAX_JSON_DEPTH`. */
export const defaultMaxJsonDepth = 64;
/**
 * Highest accepted `JOBLEDGER_MAX_JSON_DEPTH`. Stored documents wrap values a few levels deeper
 * than given (an event's payload, a pipeline's feedback), and SQLite's JSON limit is 1000.
 */
export const maxJsonDepthCeiling = 500;

export type DatabaseDialect = 'sqlite' | 'postgresql';

export interface DatabaseTarget {
  dialect: DatabaseDialect;
  /** The URL as given (secrets included); use `describeDatabase` to print it. */
  url: string;
  /** For SQLite: the file path, or ":memory:". */
  sqlitePath?: string;
}

export interface Config {
  /** Where the ledger lives. Env `DATABASE_URL`; default `sqlite:./data/jobledger.sqlite`. */
  database: DatabaseTarget;
  /** Env `REDIS_URL`; default `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /**
   * Seed nodes of a Redis Cluster (docs/deployment.md). When not empty, every Redis connection goes
   * to the cluster through these nodes (REDIS_URL then gives only the user, password and TLS), and
   * the prefix must carry a hash tag such as `{jobledger}`. Env `JOBLEDGER_REDIS_CLUSTER_NODES`
   * (`host:port,host:port,...`); default none: a single Redis at REDIS_URL.
   */
  redisClusterNodes: readonly RedisNode[];
  /**
   * Redis Sentinels that watch the Redis master (docs/deployment.md, "Redis Sentinel"). When not
   * empty, every Redis connection asks them for the master named `redisSentinelMaster`, and follows
   * a failover to the promoted replica without a restart (REDIS_URL then gives only the master's
   * user, password, database and TLS). Env `JOBLEDGER_REDIS_SENTINELS` (`host:port,host:port,...`);
   * default none. Not together with a cluster.
   */
  redisSentinels: readonly RedisNode[];
  /** The master's name the Sentinels monitor. Env `JOBLEDGER_REDIS_SENTINEL_MASTER`; default `mymaster`. */
  redisSentinelMaster: string;
  /** Prefix of every BullMQ key. Env `JOBLEDGER_REDIS_PREFIX`; default `jobledger`. */
  redisPrefix: string;
  /** pino level. Env `LOG_LEVEL`; default `info`. */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** How long a worker's lock on a job lasts before BullMQ may call it stalled. Default 30000. */
  lockDurationMs: number;
  /** How often BullMQ looks for stalled jobs. Default 30000. */
  stalledIntervalMs: number;
  /**
   * How many times a job may stall before BullMQ fails it. Env `JOBLEDGER_MAX_STALLED_COUNT`; default
   * `2 * maxLostAttempts`: a backstop well behind the ledger's bound, because BullMQ counts every time
   * a job was active in a process that died, including deliveries that never started an attempt.
   */
  maxStalledCount: number;
  /** How long a graceful shutdown lets running jobs finish before aborting them. Default 10000. */
  shutdownGraceMs: number;
  /** How often the outbox relay looks for committed, undispatched jobs. Default 1000. */
  relayIntervalMs: number;
  /** A job committed this long ago and still undispatched is the relay's to hand over. Default 2000. */
  relayGraceMs: number;
  /** Largest accepted payload, as UTF-8 JSON. Default 1 MiB. */
  maxPayloadBytes: number;
  /** Minimum gap between two `job.progress` events of one job. Default 1000. */
  progressEventIntervalMs: number;
  /** Cap on a recorded error's message and stack. Default 8192 characters. */
  maxErrorChars: number;
  /**
   * Lost attempts in a row (the worker died or lost the job without an outcome: `stalled`) after
   * which a job is failed at its next delivery instead of being started again: the bound on a job
   * that kills its process every time. Counted in the ledger, so it holds when Redis forgets the job.
   * Env `JOBLEDGER_MAX_LOST_ATTEMPTS`; default 3. A job one loss away from the bound runs alone in
   * its process (workers/poison-guard.ts), so that its next loss is its own.
   */
  maxLostAttempts: number;
  /**
   * Let workers start against a Redis whose `maxmemory-policy` is not `noeviction` (it may evict
   * queued jobs). For development only. Env `JOBLEDGER_ALLOW_EVICTING_REDIS`; default false.
   */
  allowEvictingRedis: boolean;
  /** How often a worker checks that its consumers still fetch, and publishes its health. 0 disables. Default 5000. */
  watchdogIntervalMs: number;
  /** A consumer with free slots that fetched nothing this long while jobs waited is recreated. Default 30000. */
  watchdogStuckAfterMs: number;
  /**
   * How long a call waits for the database to come back when its connection failed or ended (a
   * restart, a failover), retrying on fresh connections, before it fails with
   * `JOBLEDGER_DATABASE_UNAVAILABLE` (docs/database-outages.md). Env `JOBLEDGER_DATABASE_RETRY_MS`;
   * default 20000.
   */
  databaseRetryMs: number;
  /** Scheduled maintenance: schedules, retention and the tasks' limits. */
  maintenance: MaintenanceConfig;
  /**
   * A Redis error that goes on (a refused password, a Redis that is gone) is logged at once, then
   * once per this interval with the count of repeats (transport/redis-errors.ts). Env
   * `JOBLEDGER_REDIS_ERROR_LOG_INTERVAL_MS`; default 30000.
   */
  redisErrorLogIntervalMs: number;
  /**
   * Deepest nesting of arrays and objects accepted in payloads, results, progress and state data
   * (`{}` is 1). Env `JOBLEDGER_MAX_JSON_DEPTH`; default 64, at most 500 (SQLite's JSON limit is 1000).
   */
  maxJsonDepth: number;
  /** Largest result a handler may return, as UTF-8 JSON. Env `JOBLEDGER_MAX_RESULT_BYTES`; default 1 MiB. */
  maxResultBytes: number;
  /** Largest value `ctx.progress()` accepts, as UTF-8 JSON. Env `JOBLEDGER_MAX_PROGRESS_BYTES`; default 1 MiB. */
  maxProgressBytes: number;
  /**
   * Port of the HTTP server `jobledger worker` opens for `/metrics` and the health endpoints
   * (docs/observability.md); `null` opens none. Env `JOBLEDGER_METRICS_PORT`; default none.
   */
  metricsPort: number | null;
  /** Address that server binds. Env `JOBLEDGER_METRICS_HOST`; default `127.0.0.1` (this host only). */
  metricsHost: string;
  /** The ledger's counts behind `/metrics` are read at most once per this interval. Env `JOBLEDGER_METRICS_CACHE_MS`; default 5000. */
  metricsCacheMs: number;
  /**
   * The operator console's tokens (docs/console.md). Env `JOBLEDGER_CONSOLE_TOKENS`
   * (`name:role:secret,...`, role `viewer` or `operator`); default none: the console then binds to
   * loopback only.
   */
  consoleTokens: readonly ConsoleToken[];
  /**
   * Mirror into each BullMQ job what Bull Board shows: the payload (in the job's data), progress,
   * the result and a log line per attempt, and record removals made in Bull Board or BullMQ as
   * `job.redis_removed` events (docs/bull-board.md). The ledger stays the truth; this costs a few
   * Redis writes per attempt and a read of each queue's event stream. Env
   * `JOBLEDGER_BULL_BOARD_MIRROR`; default false.
   */
  bullBoardMirror: boolean;
  /**
   * A payload, progress or result larger than this (UTF-8 JSON) is mirrored as a placeholder naming
   * its size. Env `JOBLEDGER_BULL_BOARD_MIRROR_MAX_BYTES`; default 65536.
   */
  bullBoardMirrorMaxBytes: number;
  /** The cold archive tier of finished jobs (docs/operations.md, "Cold archive"). */
  coldArchive: ColdArchiveConfig;
  /** The hot tiers in front of keyed state: an LRU per process and Redis (docs/pipelines-and-state.md#hot-tiers). */
  stateHot: StateHotConfig;
}

const defaults = {
  DATABASE_URL: 'sqlite:./data/jobledger.sqlite',
  REDIS_URL: 'redis://127.0.0.1:6379',
  LOG_LEVEL: 'info',
  JOBLEDGER_REDIS_PREFIX: 'jobledger',
  JOBLEDGER_REDIS_CLUSTER_NODES: '',
  JOBLEDGER_REDIS_SENTINELS: '',
  JOBLEDGER_REDIS_SENTINEL_MASTER: 'mymaster',
  JOBLEDGER_LOCK_DURATION_MS: '30000',
  JOBLEDGER_STALLED_INTERVAL_MS: '30000',
  JOBLEDGER_MAX_STALLED_COUNT: '',
  JOBLEDGER_SHUTDOWN_GRACE_MS: '10000',
  JOBLEDGER_RELAY_INTERVAL_MS: '1000',
  JOBLEDGER_RELAY_GRACE_MS: '2000',
  JOBLEDGER_MAX_PAYLOAD_BYTES: String(1024 * 1024),
  JOBLEDGER_PROGRESS_EVENT_INTERVAL_MS: '1000',
  JOBLEDGER_MAX_ERROR_CHARS: '8192',
  JOBLEDGER_MAX_LOST_ATTEMPTS: '3',
  JOBLEDGER_ALLOW_EVICTING_REDIS: 'false',
  JOBLEDGER_WATCHDOG_INTERVAL_MS: '5000',
  JOBLEDGER_WATCHDOG_STUCK_AFTER_MS: '30000',
  JOBLEDGER_DATABASE_RETRY_MS: '20000',
  JOBLEDGER_REDIS_ERROR_LOG_INTERVAL_MS: '30000',
  JOBLEDGER_MAX_JSON_DEPTH: String(defaultMaxJsonDepth),
  JOBLEDGER_MAX_RESULT_BYTES: String(1024 * 1024),
  JOBLEDGER_MAX_PROGRESS_BYTES: String(1024 * 1024),
  JOBLEDGER_METRICS_PORT: '',
  JOBLEDGER_METRICS_HOST: '127.0.0.1',
  JOBLEDGER_METRICS_CACHE_MS: '5000',
  JOBLEDGER_CONSOLE_TOKENS: '',
  JOBLEDGER_BULL_BOARD_MIRROR: 'false',
  JOBLEDGER_BULL_BOARD_MIRROR_MAX_BYTES: String(64 * 1024),
  ...maintenanceDefaults,
  ...coldArchiveDefaults,
  ...stateHotDefaults,
} as const;

type Variable = keyof typeof defaults;
const known = Object.keys(defaults) as Variable[];
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Builds the configuration from an environment (default `process.env`) and optional overrides,
 * which take precedence and use the same variable names.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Record<Variable, string>> = {},
): Readonly<Config> {
  for (const name of Object.keys(env)) {
    if (name.startsWith('JOBLEDGER_') && !(known as string[]).includes(name)) {
      const hint = didYouMean(name, known);
      throw new InvalidConfigError(`unknown variable ${name}${hint ? `; did you mean ${hint}?` : ''}`);
    }
  }
  const read = (name: Variable): string => overrides[name] ?? nonEmpty(env[name]) ?? defaults[name];

  const logLevel = read('LOG_LEVEL');
  if (!(logLevels as readonly string[]).includes(logLevel)) {
    throw new InvalidConfigError(`LOG_LEVEL: expected one of ${logLevels.join(', ')}, got ${JSON.stringify(logLevel)}`);
  }
  const redisUrl = read('REDIS_URL');
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new InvalidConfigError(`REDIS_URL: expected redis://host:port[/db] or rediss://..., got ${JSON.stringify(maskUrl(redisUrl))}`);
  }
  if (!canParseUrl(redisUrl)) throw new InvalidConfigError(`REDIS_URL: malformed URL ${JSON.stringify(maskUrl(redisUrl))}`);
  const redisPrefix = read('JOBLEDGER_REDIS_PREFIX');
  if (!/^[A-Za-z0-9_.{}-]+$/.test(redisPrefix)) {
    throw new InvalidConfigError(
      `JOBLEDGER_REDIS_PREFIX: expected letters, digits, "_", ".", "-" or a {hash tag}, got ${JSON.stringify(redisPrefix)}`,
    );
  }
  const redisClusterNodes = parseClusterNodes(read('JOBLEDGER_REDIS_CLUSTER_NODES'));
  if (redisClusterNodes.length > 0) checkClusterPrefix(redisPrefix);
  const redisSentinels = parseRedisNodes('JOBLEDGER_REDIS_SENTINELS', 'Sentinels', read('JOBLEDGER_REDIS_SENTINELS'));
  if (redisSentinels.length > 0 && redisClusterNodes.length > 0) {
    throw new InvalidConfigError('JOBLEDGER_REDIS_SENTINELS: expected either Sentinels or JOBLEDGER_REDIS_CLUSTER_NODES, got both (a Redis Cluster fails over by itself)');
  }
  const redisSentinelMaster = read('JOBLEDGER_REDIS_SENTINEL_MASTER');
  if (!/^[A-Za-z0-9_.-]{1,100}$/.test(redisSentinelMaster)) {
    throw new InvalidConfigError(`JOBLEDGER_REDIS_SENTINEL_MASTER: expected a master name of letters, digits, "_", "." or "-", got ${JSON.stringify(redisSentinelMaster)}`);
  }
  const int = (name: Variable, min: number): number => parseInteger(name, read(name), min);
  const maxLostAttempts = int('JOBLEDGER_MAX_LOST_ATTEMPTS', 1);
  const maxStalledCount = read('JOBLEDGER_MAX_STALLED_COUNT') === '' ? 2 * maxLostAttempts : int('JOBLEDGER_MAX_STALLED_COUNT', 0);

  return Object.freeze({
    database: Object.freeze(parseDatabaseUrl(read('DATABASE_URL'))),
    redisUrl,
    redisClusterNodes: Object.freeze(redisClusterNodes),
    redisSentinels: Object.freeze(redisSentinels),
    redisSentinelMaster,
    redisPrefix,
    logLevel: logLevel as Config['logLevel'],
    lockDurationMs: int('JOBLEDGER_LOCK_DURATION_MS', 100),
    stalledIntervalMs: int('JOBLEDGER_STALLED_INTERVAL_MS', 100),
    maxStalledCount,
    shutdownGraceMs: int('JOBLEDGER_SHUTDOWN_GRACE_MS', 0),
    relayIntervalMs: int('JOBLEDGER_RELAY_INTERVAL_MS', 10),
    relayGraceMs: int('JOBLEDGER_RELAY_GRACE_MS', 0),
    maxPayloadBytes: int('JOBLEDGER_MAX_PAYLOAD_BYTES', 2),
    progressEventIntervalMs: int('JOBLEDGER_PROGRESS_EVENT_INTERVAL_MS', 0),
    maxErrorChars: int('JOBLEDGER_MAX_ERROR_CHARS', 64),
    maxLostAttempts,
    allowEvictingRedis: parseBoolean('JOBLEDGER_ALLOW_EVICTING_REDIS', read('JOBLEDGER_ALLOW_EVICTING_REDIS')),
    watchdogIntervalMs: int('JOBLEDGER_WATCHDOG_INTERVAL_MS', 0),
    watchdogStuckAfterMs: int('JOBLEDGER_WATCHDOG_STUCK_AFTER_MS', 100),
    databaseRetryMs: int('JOBLEDGER_DATABASE_RETRY_MS', 0),
    maintenance: parseMaintenance(read),
    redisErrorLogIntervalMs: int('JOBLEDGER_REDIS_ERROR_LOG_INTERVAL_MS', 100),
    maxJsonDepth: parseInteger('JOBLEDGER_MAX_JSON_DEPTH', read('JOBLEDGER_MAX_JSON_DEPTH'), 1, maxJsonDepthCeiling),
    maxResultBytes: int('JOBLEDGER_MAX_RESULT_BYTES', 2),
    maxProgressBytes: int('JOBLEDGER_MAX_PROGRESS_BYTES', 2),
    metricsPort: read('JOBLEDGER_METRICS_PORT') === '' ? null : parseInteger('JOBLEDGER_METRICS_PORT', read('JOBLEDGER_METRICS_PORT'), 1, 65535),
    metricsHost: parseHost('JOBLEDGER_METRICS_HOST', read('JOBLEDGER_METRICS_HOST')),
    metricsCacheMs: int('JOBLEDGER_METRICS_CACHE_MS', 0),
    consoleTokens: Object.freeze(parseConsoleTokens(read('JOBLEDGER_CONSOLE_TOKENS'))),
    bullBoardMirror: parseBoolean('JOBLEDGER_BULL_BOARD_MIRROR', read('JOBLEDGER_BULL_BOARD_MIRROR')),
    bullBoardMirrorMaxBytes: int('JOBLEDGER_BULL_BOARD_MIRROR_MAX_BYTES', 2),
    coldArchive: parseColdArchive(read),
    stateHot: parseStateHot(read),
  });
}

/** Parses `sqlite:<path>` (forms accepted and refused: sqlite-url.ts), `sqlite::memory:` or `postgres(ql)://...`. */
export function parseDatabaseUrl(url: string): DatabaseTarget {
  if (url.startsWith('sqlite:')) return { dialect: 'sqlite', url, sqlitePath: sqlitePathFromUrl(url) };
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new InvalidConfigError(`DATABASE_URL: malformed PostgreSQL URL ${JSON.stringify(maskUrl(url))}`);
    }
    return { dialect: 'postgresql', url };
  }
  throw new InvalidConfigError(
    `DATABASE_URL: expected sqlite:<path> or postgres://user@host:port/db, got ${JSON.stringify(maskUrl(url))}`,
  );
}

/** The database URL with any password masked, for logs and messages (mask-url.ts). */
export function describeDatabase(target: DatabaseTarget): string {
  return maskUrl(target.url);
}
