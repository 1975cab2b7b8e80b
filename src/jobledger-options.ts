/**
 * What `JobLedger.open` takes: the job types, pipelines and schedules of this process, and how to
 * reach and treat the ledger (configuration, logger, migrations, the relay, BullMQ telemetry).
 */
import type { Telemetry } from 'bullmq';
import type { Config } from './config.js';
import type { JobType } from './jobs/define-job.js';
import type { PipelineDefinition } from './jobs/define-pipeline.js';
import type { JobSchedule } from './jobs/define-schedule.js';
import type { Logger } from './logger.js';

export interface JobLedgerOptions {
  /** The job types this process knows. */
  jobs: readonly JobType[];
  /** Default: `loadConfig()` from the environment. */
  config?: Readonly<Config>;
  /**
   * Default: a pino logger at `config.logLevel`, writing to stderr, that scrubs the passwords of
   * REDIS_URL and DATABASE_URL from every line. A logger given here is used through a child that
   * redacts errors and secret-looking fields the same way (log-redaction.ts).
   */
  logger?: Logger;
  /** Apply pending migrations on open instead of refusing an older schema. Default false. */
  migrate?: boolean;
  /**
   * Create the SQLite file or PostgreSQL database when it does not exist. Default true; with false,
   * opening a missing one fails with `DatabaseMissingError` and creates nothing.
   */
  createDatabase?: boolean;
  /** Run the outbox relay in this process. Default true. */
  relay?: boolean;
  /**
   * The pipelines this process starts and advances (`definePipeline`); their stage job types must be
   * in `jobs`. Every worker process that runs stage jobs must register them too. Default none.
   */
  pipelines?: readonly PipelineDefinition[];
  /**
   * Recurring jobs (`defineSchedule`): each enqueues one job of its job type, which must be in `jobs`,
   * at every tick of its cron expression. They run in the maintenance scheduler of every process
   * that starts it (`jl.maintenance.start()`, as `jobledger worker` does), each tick once across all
   * of them, and are listed with the maintenance tasks as `schedule-<name>`. Default none.
   */
  schedules?: readonly JobSchedule[];
  /**
   * BullMQ's own telemetry (for example `new BullMQOtel('my-app')` from `bullmq-otel`), given to
   * every BullMQ Queue and Worker this object creates: BullMQ's spans beside jobledger's own
   * (docs/observability.md#traces). Default none.
   */
  telemetry?: Telemetry;
}
