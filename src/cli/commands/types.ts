/**
 * `jobledger types`: the job types, pipelines and schedules the CLI would use, and where they come
 * from (the configuration module, which this runs, or the built-in demo types), each job type with
 * its payload schema as JSON Schema.
 */
import type { Command } from 'commander';
import type { ZodType } from 'zod';
import { cliConfig, cliJobTypes, type GlobalOptions } from '../context.js';
import { printJson, printTable } from '../output.js';

export function registerTypesCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('types')
    .description('list the job types, pipelines and schedules of the configuration module (running it) or the built-in demo ones')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const [{ createLogger }, { z }] = await Promise.all([import('../../logger.js'), import('zod')]);
      const loaded = await cliJobTypes(global(), createLogger(await cliConfig()));
      const jobs = loaded.jobs.map((t) => ({
        name: t.name,
        queue: t.queue,
        maxAttempts: t.maxAttempts,
        backoff: t.backoff,
        timeoutMs: t.timeoutMs,
        priority: t.priority,
        payloadSchema: payloadJsonSchema(z, t.schema),
      }));
      const pipelines = loaded.pipelines.map((p) => ({ name: p.name, start: p.start, stages: [...p.stageOrder], budgets: { ...p.budgets } }));
      const schedules = loaded.schedules.map((s) => ({ name: s.name, cron: s.cron, timezone: s.timezone ?? null, job: s.job, onMissed: s.onMissed }));
      if (opts.json) return printJson({ source: loaded.source, jobs, pipelines, schedules });
      process.stdout.write(`${loaded.source ?? '(no configuration module: the built-in demo job types)'}\n\n`);
      printTable(jobs.map(({ payloadSchema, ...j }) => ({ ...j, backoff: JSON.stringify(j.backoff), timeoutMs: j.timeoutMs ?? '', payload: payloadSummary(payloadSchema) })));
      if (pipelines.length > 0) {
        process.stdout.write('\npipelines\n');
        printTable(pipelines.map((p) => ({ name: p.name, start: p.start, stages: p.stages.join(' '), budgets: JSON.stringify(p.budgets) })));
      }
      if (schedules.length > 0) {
        process.stdout.write('\nschedules\n');
        printTable(schedules.map((s) => ({ name: s.name, cron: s.cron, timezone: s.timezone ?? '(maintenance time zone)', job: s.job, onMissed: s.onMissed })));
      }
    });
}

/**
 * The payload schema as JSON Schema (draft 2020-12). Parts JSON Schema cannot express (a transform,
 * a date) become `{}`; a schema zod cannot convert at all is described as such, not dropped.
 */
function payloadJsonSchema(z: typeof import('zod').z, schema: ZodType): Record<string, unknown> {
  try {
    return z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' });
  } catch (error) {
    return { description: `not expressible as JSON Schema: ${(error as Error).message}` };
  }
}

/** For the table: the top-level fields, `?` marking the optional ones. */
function payloadSummary(schema: Record<string, unknown>): string {
  const properties = schema.properties as Record<string, unknown> | undefined;
  if (!properties) return typeof schema.type === 'string' ? schema.type : '';
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return Object.keys(properties)
    .map((key) => (required.has(key) ? key : `${key}?`))
    .join(' ');
}
