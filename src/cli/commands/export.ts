/** `jobledger export`: the record of the jobs a filter matches, with attempts and events, to a file or stdout. */
import { once } from 'node:events';
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import type { JobDetail, JobStatus } from '../../store/index.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { parseTimeOption, parseWhere } from '../parse.js';
import { exportFormats, recordWriter, type ExportFormat } from '../export/export-formats.js';

interface ExportCommandOptions {
  job?: string;
  run?: string;
  status?: JobStatus;
  name?: string;
  queue?: string;
  since?: number;
  until?: number;
  where?: Record<string, string>;
  format: ExportFormat;
  out?: string;
  force?: boolean;
}

export function registerExportCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('export')
    .description('write every matching job with its attempts and events (newest first) as NDJSON, JSON or CSV')
    .option('--job <job-id>', 'only this job')
    .option('--run <run-id>', 'the jobs of a run')
    .option('--status <status>', 'pending, queued, delayed, running, completed, failed or cancelled')
    .option('--name <name>', 'job type')
    .option('--queue <queue>', 'queue')
    .option('--since <time>', 'created since: ISO time or 15m, 2h, 7d', (raw) => parseTimeOption('--since', raw))
    .option('--until <time>', 'created before: ISO time or 15m, 2h, 7d ago', (raw) => parseTimeOption('--until', raw))
    .option('--where <path=value>', 'payload field equals value (repeatable)', parseWhere)
    .option('--format <format>', 'ndjson, json or csv', formatOption, 'ndjson' as ExportFormat)
    .option('--out <file>', 'write to this file instead of stdout (written whole, then moved into place)')
    .option('--force', 'replace --out if it exists')
    .action(async (opts: ExportCommandOptions) => {
      const target = opts.out === undefined ? undefined : checkedOutput(opts.out, opts.force === true);
      await withJobLedger(global(), {}, async (jl) => {
        const records = jl.export({
          ...(opts.job ? { jobId: opts.job } : {}),
          ...(opts.run ? { runId: opts.run } : {}),
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.queue ? { queue: opts.queue } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}),
          ...(opts.until !== undefined ? { until: opts.until } : {}),
          ...(opts.where ? { where: opts.where } : {}),
        });
        const counts = target ? await writeToFile(target, opts.format, records) : await writeRecords(process.stdout, opts.format, records);
        process.stderr.write(
          `exported ${counts.jobs} job${counts.jobs === 1 ? '' : 's'} (${counts.attempts} attempts, ${counts.events} events)${target ? ` to ${target}` : ''}\n`,
        );
      });
    });
}

type Counts = { jobs: number; attempts: number; events: number };

async function writeRecords(out: NodeJS.WritableStream, format: ExportFormat, records: AsyncIterable<JobDetail>): Promise<Counts> {
  const writer = recordWriter(format);
  const counts: Counts = { jobs: 0, attempts: 0, events: 0 };
  const write = async (text: string) => {
    if (text && !out.write(text)) await once(out, 'drain');
  };
  await write(writer.start());
  for await (const record of records) {
    await write(writer.record(record, counts.jobs));
    counts.jobs += 1;
    counts.attempts += record.attempts.length;
    counts.events += record.events.length;
  }
  await write(writer.end(counts.jobs));
  return counts;
}

/** Written to a temporary file beside `target`, then renamed: a failed export leaves nothing behind. */
async function writeToFile(target: string, format: ExportFormat, records: AsyncIterable<JobDetail>): Promise<Counts> {
  const partial = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  const out = createWriteStream(partial, { flags: 'wx' });
  await once(out, 'open');
  try {
    const counts = await writeRecords(out, format, records);
    out.end();
    await once(out, 'finish');
    await rename(partial, target);
    return counts;
  } catch (error) {
    out.destroy();
    await rm(partial, { force: true });
    throw error;
  }
}

/** The output path, refused before anything is read if it cannot be written as asked. */
function checkedOutput(given: string, force: boolean): string {
  const target = resolve(given);
  const directory = dirname(target);
  if (!existsSync(directory) || !statSync(directory).isDirectory()) throw new InvalidOptionError('--out', 'a file in an existing directory', given);
  if (existsSync(target)) {
    if (statSync(target).isDirectory()) throw new InvalidOptionError('--out', 'a file, not a directory', given);
    if (!force) throw new InvalidOptionError('--out', 'a file that does not exist yet (or --force to replace it)', given);
  }
  return target;
}

function formatOption(raw: string): ExportFormat {
  if (!(exportFormats as readonly string[]).includes(raw)) throw new InvalidOptionError('--format', exportFormats.join(', '), raw);
  return raw as ExportFormat;
}
