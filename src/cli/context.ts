/**
 * What every CLI command needs: the configuration, a logger and an open JobLedger; and, for the
 * commands that enqueue or run jobs, the job types of the configuration module.
 *
 * The configuration module is code: loading it runs it, with the rights of whoever runs the CLI.
 * So only the commands that need job types load it (`openJobLedger(..., { jobTypes: true })`:
 * worker, enqueue, pipelines start, reconcile and schedule runs, types); every read-only query
 * opens the ledger without it, and `--no-config` turns it off everywhere. The module's path is
 * logged at `info` before it runs.
 *
 * The ledger, the transport and the logger are imported when a command first needs them, not when
 * the CLI starts: `--help`, `--version` and a usage error load none of MikroORM, BullMQ or pino.
 * A command that only reads the ledger opens the store alone (`withLedger`): no JobLedger, so no
 * BullMQ, ioredis or pino is loaded and no Redis connection is made.
 */
import type { Config } from '../config.js';
import { DatabaseUnavailableError, DatabaseUnreachableError, RedisUnavailableError } from '../errors.js';
import type { JobLedger } from '../jobledger.js';
import type { Logger } from '../logger.js';
import type { Ledger } from '../store/index.js';
import { builtInJobTypes, loadJobTypes, missingConfigModule, type LoadedJobTypes } from './config-module.js';

export interface GlobalOptions {
  /** `--config <path>`; `false` with `--no-config`. */
  config?: string | false;
}

export interface OpenOptions {
  /**
   * Load the job types from the configuration module (running it). Only for commands that
   * enqueue, run or describe jobs; default false: the ledger is opened with no job types.
   */
  jobTypes?: boolean;
  /** With `jobTypes`: this command refuses to run without a configuration module (the worker). */
  configRequiredBy?: string;
  /**
   * Apply pending migrations first. Only then is a missing database (SQLite file, PostgreSQL
   * database) created: every other command refuses it, so a typo in DATABASE_URL never yields a
   * new, empty ledger.
   */
  migrate?: boolean;
  /**
   * Check Redis before doing anything (commands that hand jobs to Redis): `true` refuses unless it
   * answers; `'credentials'` refuses only a Redis that rejects the credentials, and goes on when
   * it does not answer (enqueue, whose job then waits in the ledger's outbox, as the library's does).
   */
  needsRedis?: boolean | 'credentials';
  /** Run the outbox relay (long-running commands). */
  relay?: boolean;
  /** Defaults for variables the environment does not set (e.g. the worker's LOG_LEVEL `info`). */
  envDefaults?: Record<string, string>;
  /** Values that win over the environment's (the demo's own database and Redis prefix). */
  envOverrides?: Record<string, string>;
  /** Use these job types instead of loading any (the demo's own). */
  fixedJobTypes?: Pick<LoadedJobTypes, 'jobs' | 'pipelines'> & Partial<Pick<LoadedJobTypes, 'schedules'>>;
}

/**
 * The configuration from the environment. The CLI's commands log at `warn` unless LOG_LEVEL (or
 * `envDefaults`, as the worker's `info`) says otherwise: their output is their tables.
 */
export async function cliConfig(envDefaults: Record<string, string> = {}, envOverrides: Record<string, string> = {}): Promise<Readonly<Config>> {
  const { loadConfig } = await import('../config.js');
  return loadConfig({ LOG_LEVEL: 'warn', ...envDefaults, ...process.env, ...envOverrides });
}

/**
 * Runs `open` (opening the ledger); a PostgreSQL that does not answer becomes one line naming its
 * host, port and DATABASE_URL.
 */
export async function openingDatabase<T>(config: Readonly<Config>, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof DatabaseUnavailableError && config.database.dialect === 'postgresql') {
      const { host, port } = postgresAddress(config.database.url);
      throw new DatabaseUnreachableError(host, port, error.cause);
    }
    throw error;
  }
}

function postgresAddress(url: string): { host: string; port: string } {
  try {
    const parsed = new URL(url);
    return { host: parsed.hostname || parsed.searchParams.get('host') || 'localhost', port: parsed.port || '5432' };
  } catch {
    return { host: 'localhost', port: '5432' };
  }
}

export async function openJobLedger(global: GlobalOptions, options: OpenOptions = {}): Promise<JobLedger> {
  const config = await cliConfig(options.envDefaults, options.envOverrides);
  const [{ createLogger }, { checkRedis }, { JobLedger }] = await Promise.all([
    import('../logger.js'),
    import('../transport/redis-connection.js'),
    import('../jobledger.js'),
  ]);
  const logger = createLogger(config);
  if (options.needsRedis) {
    try {
      (await checkRedis(config)).disconnect();
    } catch (error) {
      if (!(options.needsRedis === 'credentials' && error instanceof RedisUnavailableError)) throw error;
    }
  }
  const { jobs, pipelines, schedules = [] } = options.fixedJobTypes ?? (options.jobTypes ? await cliJobTypes(global, logger, options.configRequiredBy) : { jobs: [], pipelines: [] });
  const migrate = options.migrate ?? false;
  return openingDatabase(config, () =>
    JobLedger.open({ jobs, pipelines, schedules, config, logger, migrate, createDatabase: migrate, relay: options.relay ?? false }),
  );
}

/** Opens, runs `work`, and always closes. */
export async function withJobLedger<T>(global: GlobalOptions, options: OpenOptions, work: (jl: JobLedger) => Promise<T>): Promise<T> {
  const jl = await openJobLedger(global, options);
  try {
    return await work(jl);
  } finally {
    await jl.close();
  }
}

/** What a command that only reads (or writes through the ORM alone) gets: the store, no Redis. */
export interface LedgerReader {
  readonly config: Readonly<Config>;
  readonly ledger: Ledger;
}

/**
 * Opens the ledger's store alone (MikroORM; the schema checked, nothing created or migrated), runs
 * `work`, and always closes. For the commands that read the ledger and touch neither Redis nor job
 * types: `jobs`, `show`, `events`, `runs`, `audit`, `search`.
 */
export async function withLedger<T>(work: (reader: LedgerReader) => Promise<T>): Promise<T> {
  const config = await cliConfig();
  const { Ledger } = await import('../store/index.js');
  const ledger = await openingDatabase(config, () =>
    Ledger.open(config.database, { migrate: false, create: false, databaseRetryMs: config.databaseRetryMs }),
  );
  try {
    return await work({ config, ledger });
  } finally {
    await ledger.close();
  }
}

/**
 * The job types for a command that needs them: from the configuration module (`--config`, or
 * `jobledger.config.*` in the working directory), named at `info` before it runs; the built-in
 * demo job types when there is none or with `--no-config`, unless `requiredBy` names the command
 * that refuses to run without one.
 */
export async function cliJobTypes(global: GlobalOptions, logger: Logger, requiredBy?: string): Promise<LoadedJobTypes> {
  if (global.config === false) {
    if (requiredBy) throw missingConfigModule(process.cwd(), requiredBy, true);
    logger.info('--no-config: no configuration module is run; using the built-in demo job types');
    return builtInJobTypes();
  }
  return loadJobTypes(
    global.config,
    process.cwd(),
    (path) => logger.info({ configModule: path }, 'running the configuration module for its job types (it is code: run jobledger only where you trust it)'),
    requiredBy,
  );
}
