/** `jobledger export`: the record of the jobs a filter matches, with attempts and events, to a file or stdout. */
import { once } from 'node:events';
import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import type { JobDetail } from '../../store/index.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { addJobFilterOptions, jobFilterOf, type JobFilterFlags } from '../job-filter-options.js';
import { exportFormats, recordWriter, type ExportFormat } from '../export/export-formats.js';
import { heapCollector } from '../export/heap-collector.js';

interface ExportCommandOptions extends JobFilterFlags {
  pipeline?: string;
  format?: ExportFormat;
  out?: string;
  force?: boolean;
  bundle?: boolean;
}

export function registerExportCommand(program: Command, global: () => GlobalOptions): void {
  addJobFilterOptions(
    program.command('export').description('write every matching job with its attempts and events (newest first) as NDJSON, JSON or CSV'),
  )
    .option('--pipeline <pipeline-id>', 'the jobs of a pipeline (live or archived), in the order its stages ran them')
    .option('--format <format>', 'ndjson (default), json or csv', formatOption)
    .option('--out <file>', 'write to this file instead of stdout (written whole, then moved into place)')
    .option('--force', 'replace --out if it exists')
    .option('--bundle', 'write an evidence bundle to --out: a .tar.gz with a manifest and a SHA-256 per part (check it with verify-bundle)')
    .action(async (opts: ExportCommandOptions) => {
      if (opts.bundle && opts.out === undefined) throw new InvalidOptionError('--bundle', 'to come with --out FILE', undefined);
      if (opts.bundle && opts.format !== undefined) throw new InvalidOptionError('--format', 'no format with --bundle (a bundle holds NDJSON records)', opts.format);
      const filter = { ...jobFilterOf(opts), ...(opts.pipeline !== undefined ? { pipelineId: opts.pipeline } : {}) };
      const target = opts.out === undefined ? undefined : checkedOutput(opts.out, opts.force === true);
      await withJobLedger(global(), {}, async (jl) => {
        if (opts.bundle) {
          const manifest = await jl.exportBundle(target!, filter, { force: opts.force === true });
          const { jobs, attempts, events } = manifest.counts;
          process.stderr.write(`bundled ${jobs} job${jobs === 1 ? '' : 's'} (${attempts} attempts, ${events} events) to ${target}\n`);
          return;
        }
        const records = jl.export(filter);
        const format = opts.format ?? 'ndjson';
        const counts = target ? await writeToFile(target, format, records) : await writeRecords(process.stdout, format, records);
        process.stderr.write(
          `exported ${counts.jobs} job${counts.jobs === 1 ? '' : 's'} (${counts.attempts} attempts, ${counts.events} events)${target ? ` to ${target}` : ''}\n`,
        );
      });
    });

  program
    .command('verify-bundle <file>')
    .description('check an evidence bundle: every part against its SHA-256 and size in the manifest, and the record counts')
    .option('--json', 'print the manifest as JSON')
    .action(async (file: string, opts: { json?: boolean }) => {
      const { verifyEvidenceBundle } = await import('../../jobs/bundle/evidence-bundle.js');
      const manifest = await verifyEvidenceBundle(resolve(file));
      if (opts.json) return void process.stdout.write(`${JSON.stringify(manifest)}\n`);
      const { jobs, attempts, events } = manifest.counts;
      const subject = manifest.subject ? `${manifest.subject.type} ${manifest.subject.id}` : 'a filter';
      process.stdout.write(
        `${file}: verified: ${subject}, ${jobs} jobs, ${attempts} attempts, ${events} events, ${manifest.parts.length} parts; ` +
          `written ${manifest.createdAt} by jobledger ${manifest.jobledger} (schema ${manifest.schema}, ${manifest.database})\n`,
      );
    });
}

type Counts = { jobs: number; attempts: number; events: number };

async function writeRecords(out: NodeJS.WritableStream, format: ExportFormat, records: AsyncIterable<JobDetail>): Promise<Counts> {
  const writer = recordWriter(format);
  const counts: Counts = { jobs: 0, attempts: 0, events: 0 };
  const write = async (text: string) => {
    if (text && !out.write(text)) await once(out, 'drain');
  };
  const collect = heapCollector();
  await write(writer.start());
  for await (const record of records) {
    await write(writer.record(record, counts.jobs));
    collect();
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
