/** What every CLI command needs: the configuration, the job types, and an open JobLedger. */
import { loadConfig, type Config } from '../config.js';
import { checkRedis } from '../jobs/redis-connection.js';
import { JobLedger } from '../jobledger.js';
import { loadJobTypes } from './config-module.js';

export interface GlobalOptions {
  config?: string;
}

export interface OpenOptions {
  /** Apply pending migrations first. */
  migrate?: boolean;
  /** Check that Redis answers before doing anything (commands that hand jobs to Redis). */
  needsRedis?: boolean;
  /** Run the outbox relay (long-running commands). */
  relay?: boolean;
  /** Defaults for variables the environment does not set (e.g. a quieter LOG_LEVEL for the demo). */
  envDefaults?: Record<string, string>;
}

export function cliConfig(envDefaults: Record<string, string> = {}): Readonly<Config> {
  return loadConfig({ ...envDefaults, ...process.env });
}

export async function openJobLedger(global: GlobalOptions, options: OpenOptions = {}): Promise<JobLedger> {
  const config = cliConfig(options.envDefaults);
  if (options.needsRedis) (await checkRedis(config.redisUrl)).disconnect();
  const { jobs, pipelines } = await loadJobTypes(global.config);
  return JobLedger.open({ jobs, pipelines, config, migrate: options.migrate ?? false, relay: options.relay ?? false });
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
