/**
 * What every CLI command needs: the configuration, a logger and an open JobLedger; and, for the
 * commands that enqueue or run jobs, the job types of the configuration module.
 *
 * The configuration module is code: loading it runs it, with the rights of whoever runs the CLI.
 * So only the commands that need job types load it (`openJobLedger(..., { jobTypes: true })`:
 * worker, enqueue, pipelines start, reconcile and maintenance runs, types); every read-only query
 * opens the ledger without it, and `--no-config` turns it off everywhere. The module's path is
 * logged at `info` before it runs.
 */
import { loadConfig, type Config } from '../config.js';
import { checkRedis } from '../transport/redis-connection.js';
import { JobLedger } from '../jobledger.js';
import { createLogger, type Logger } from '../logger.js';
import { builtInJobTypes, loadJobTypes, type LoadedJobTypes } from './config-module.js';

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
  /** Apply pending migrations first. */
  migrate?: boolean;
  /** Check that Redis answers before doing anything (commands that hand jobs to Redis). */
  needsRedis?: boolean;
  /** Run the outbox relay (long-running commands). */
  relay?: boolean;
  /** Defaults for variables the environment does not set (e.g. a quieter LOG_LEVEL for the demo). */
  envDefaults?: Record<string, string>;
  /** Use these job types instead of loading any (the demo's own). */
  fixedJobTypes?: Pick<LoadedJobTypes, 'jobs' | 'pipelines'>;
}

export function cliConfig(envDefaults: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({ ...envDefaults, ...process.env });
}

export async function openJobLedger(global: GlobalOptions, options: OpenOptions = {}): Promise<JobLedger> {
  const config = cliConfig(options.envDefaults);
  const logger = createLogger(config);
  if (options.needsRedis) (await checkRedis(config.redisUrl)).disconnect();
  const { jobs, pipelines } = options.fixedJobTypes ?? (options.jobTypes ? await cliJobTypes(global, logger) : { jobs: [], pipelines: [] });
  return JobLedger.open({ jobs, pipelines, config, logger, migrate: options.migrate ?? false, relay: options.relay ?? false });
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

/**
 * The job types for a command that needs them: from the configuration module (`--config`, or
 * `jobledger.config.*` in the working directory), named at `info` before it runs; the built-in
 * demo job types when there is none or with `--no-config`.
 */
export async function cliJobTypes(global: GlobalOptions, logger: Logger): Promise<LoadedJobTypes> {
  if (global.config === false) {
    logger.info('--no-config: no configuration module is run; using the built-in demo job types');
    return builtInJobTypes();
  }
  return loadJobTypes(global.config, process.cwd(), (path) =>
    logger.info({ configModule: path }, 'running the configuration module for its job types (it is code: run jobledger only where you trust it)'),
  );
}
