/**
 * The job filter flags shared by commands that act on every job a filter matches (`export`,
 * `replay`): the same flags, parsed the same way, into the library's `ExportFilter`.
 */
import type { Command } from 'commander';
import type { ExportFilter } from '../jobs/job-export.js';
import type { JobStatus } from '../store/index.js';
import { parseTimeOption, parseWhere } from './parse.js';

export interface JobFilterFlags {
  job?: string;
  run?: string;
  status?: JobStatus;
  name?: string;
  queue?: string;
  since?: number;
  until?: number;
  where?: Record<string, string>;
}

export function addJobFilterOptions(command: Command, nameFlag = '--name <name>'): Command {
  return command
    .option('--job <job-id>', 'only this job')
    .option('--run <run-id>', 'the jobs of a run')
    .option('--status <status>', 'pending, queued, delayed, running, completed, failed or cancelled')
    .option(nameFlag, 'job type')
    .option('--queue <queue>', 'queue')
    .option('--since <time>', 'created since: ISO time or 15m, 2h, 7d', (raw) => parseTimeOption('--since', raw))
    .option('--until <time>', 'created before: ISO time or 15m, 2h, 7d ago', (raw) => parseTimeOption('--until', raw))
    .option('--where <path=value>', 'payload field equals value (repeatable)', parseWhere);
}

/**
 * The flags as the library's filter. `typeFlag`: the key commander gave the job type flag (`name`
 * for `--name`; `type` where `--name` names something else, as in `replay`).
 */
export function jobFilterOf(opts: JobFilterFlags & { type?: string }, typeFlag: 'name' | 'type' = 'name'): ExportFilter {
  const name = opts[typeFlag];
  return {
    ...(opts.job ? { jobId: opts.job } : {}),
    ...(opts.run ? { runId: opts.run } : {}),
    ...(opts.status ? { status: opts.status } : {}),
    ...(name ? { name } : {}),
    ...(opts.queue ? { queue: opts.queue } : {}),
    ...(opts.since !== undefined ? { since: opts.since } : {}),
    ...(opts.until !== undefined ? { until: opts.until } : {}),
    ...(opts.where ? { where: opts.where } : {}),
  };
}
