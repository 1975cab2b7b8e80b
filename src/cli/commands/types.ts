/**
 * `jobledger types`: the job types and pipelines the CLI would use, and where they come from (the
 * configuration module, which this runs, or the built-in demo types).
 */
import type { Command } from 'commander';
import { createLogger } from '../../logger.js';
import { cliConfig, cliJobTypes, type GlobalOptions } from '../context.js';
import { printJson, printTable } from '../output.js';

export function registerTypesCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('types')
    .description('list the job types and pipelines of the configuration module (running it) or the built-in demo ones')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const loaded = await cliJobTypes(global(), createLogger(cliConfig()));
      const jobs = loaded.jobs.map((t) => ({
        name: t.name,
        queue: t.queue,
        maxAttempts: t.maxAttempts,
        backoff: t.backoff,
        timeoutMs: t.timeoutMs,
        priority: t.priority,
      }));
      const pipelines = loaded.pipelines.map((p) => ({ name: p.name, start: p.start, stages: [...p.stageOrder], budgets: { ...p.budgets } }));
      if (opts.json) return printJson({ source: loaded.source, jobs, pipelines });
      process.stdout.write(`${loaded.source ?? '(no configuration module: the built-in demo job types)'}\n\n`);
      printTable(jobs.map((j) => ({ ...j, backoff: JSON.stringify(j.backoff), timeoutMs: j.timeoutMs ?? '' })));
      if (pipelines.length === 0) return;
      process.stdout.write('\npipelines\n');
      printTable(pipelines.map((p) => ({ name: p.name, start: p.start, stages: p.stages.join(' '), budgets: JSON.stringify(p.budgets) })));
    });
}
