/**
 * Commands for pipelines: list, show, start, archive, and the archived history. What an action needs
 * beyond commander is imported inside it (cli/context.ts says why).
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import type { PipelineDetail, PipelineStatus } from '../../store/index.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';
import { parseInteger, parseJsonObject, parseSince } from '../parse.js';

const statuses: readonly PipelineStatus[] = ['running', 'succeeded', 'failed'];

export function registerPipelineCommands(program: Command, global: () => GlobalOptions): void {
  const pipelines = program
    .command('pipelines')
    .description('list live pipelines, newest first (subcommands: show, start, cancel, retry, archive)')
    .option('--state <state>', 'current stage or terminal state, e.g. review or merged')
    .option('--status <status>', statuses.join(', '), parseStatus)
    .option('--name <name>', 'pipeline definition')
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { state?: string; status?: PipelineStatus; name?: string; limit: number; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const list = await jl.pipelines.list({
          ...(opts.state ? { state: opts.state } : {}),
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.name ? { name: opts.name } : {}),
          limit: opts.limit,
        });
        if (opts.json) return printJson(list);
        printTable(
          list.map((p) => ({
            id: p.id,
            name: p.name,
            state: p.state,
            status: p.status,
            loops: budgetsText(p.retries, p.budgets),
            stages: p.path.length + (p.currentJobId ? 1 : 0),
            started: formatTime(p.createdAt),
            finished: formatTime(p.finishedAt),
            reason: shorten(p.statusReason ?? '', 60),
          })),
        );
      });
    });

  // `pipelines` takes `--json` itself (for the list), so commander hands a subcommand's `--json` to
  // it; the subcommands read it from there too.
  const parentJson = (): boolean | undefined => pipelines.opts<{ json?: boolean }>().json;

  pipelines
    .command('show <pipeline-id>')
    .description('one pipeline (live or archived): its stages with their jobs and attempts, and its events')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const json = opts.json ?? parentJson();
      await withJobLedger(global(), {}, async (jl) => {
        const { assertId } = await import('../../store/index.js');
        const detail = await jl.pipelines.detail(assertId('pip', id));
        if (json) printJson(detail);
        else printDetail(detail);
      });
    });

  pipelines
    .command('start <name>')
    .description('start a pipeline; prints its id')
    .option('--context <json>', 'the context document, a JSON object', (raw) => parseJsonObject('--context', raw))
    .option('--budget <name=max>', 'override a loop budget for this pipeline (repeatable)', parseBudget)
    .option('--run <run-id>', 'the run it belongs to')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { context?: unknown; budget?: Record<string, number>; run?: string; json?: boolean }) => {
      const json = opts.json ?? parentJson();
      const { defaultActor } = await import('../../jobs/operator.js');
      await withJobLedger(global(), { jobTypes: true, needsRedis: true }, async (jl) => {
        const started = await jl.pipelines.start(name, {
          ...(opts.context !== undefined ? { context: opts.context as Record<string, unknown> } : {}),
          ...(opts.budget ? { budgets: opts.budget } : {}),
          ...(opts.run ? { runId: opts.run } : {}),
          actor: defaultActor(),
        });
        if (json) printJson(started);
        else process.stdout.write(`${started.id}\n`);
      });
    });

  for (const action of ['cancel', 'retry'] as const) {
    pipelines
      .command(`${action} <pipeline-id>`)
      .description(
        action === 'cancel'
          ? 'cancel a running pipeline and its unfinished stage jobs'
          : 'run a failed or cancelled pipeline again from the stage that ended it (a new stage job)',
      )
      .option('--reason <text>', 'why, recorded in the events (required)')
      .option('--actor <name>', 'who (recorded in the events; default: the OS user)')
      .option('--json', 'print JSON')
      .action(async (id: string, opts: { reason?: string; actor?: string; json?: boolean }) => {
        const json = opts.json ?? parentJson();
        // Checked here rather than by commander, which would print the whole usage after it.
        const reason = opts.reason;
        if (reason === undefined) throw new InvalidOptionError('--reason', `the reason for the ${action} (required; recorded in the pipeline's event)`, undefined);
        await withJobLedger(global(), { jobTypes: true, needsRedis: true }, async (jl) => {
          const input = { pipelineId: id, reason, source: 'cli' as const, ...(opts.actor ? { actor: opts.actor } : {}) };
          const result = action === 'cancel' ? await jl.cancelPipeline(input) : await jl.retryPipeline(input);
          if (json) return printJson(result);
          printTable([{ pipeline: result.id, from: result.previousStatus, to: result.status, state: result.state }], { keep: ['pipeline'] });
          for (const job of result.jobs) process.stdout.write(`job ${job.id}: ${job.previousStatus ?? 'new'} -> ${job.status}\n`);
        });
      });
  }

  pipelines
    .command('archive')
    .description('move finished pipelines to the history')
    .requiredOption('--older-than <span>', 'finished at least this long ago: 0, 30s, 15m, 2h, 7d (required)', parseSpan)
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 1_000_000), 10_000)
    .option('--json', 'print JSON')
    .action(async (opts: { olderThan: number; limit: number; json?: boolean }) => {
      const json = opts.json ?? parentJson();
      await withJobLedger(global(), {}, async (jl) => {
        const result = await jl.pipelines.archiveFinished({ olderThanMs: opts.olderThan, limit: opts.limit });
        if (json) printJson(result);
        else process.stdout.write(`archived ${result.archived} pipeline(s)\n`);
      });
    });

  program
    .command('history')
    .description('archived pipelines, most recently completed first')
    .option('--final-state <state>', 'e.g. merged, failed, cancelled')
    .option('--status <status>', 'succeeded or failed', parseStatus)
    .option('--name <name>', 'pipeline definition')
    .option('--since <time>', 'completed since: ISO time or 15m, 2h, 7d', (raw) => parseSince(raw))
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { finalState?: string; status?: PipelineStatus; name?: string; since?: number; limit: number; json?: boolean }) => {
      if (opts.status === 'running') throw new InvalidOptionError('--status', 'succeeded or failed (archived pipelines have ended)', opts.status);
      await withJobLedger(global(), {}, async (jl) => {
        const rows = await jl.pipelines.history({
          ...(opts.finalState ? { finalState: opts.finalState } : {}),
          ...(opts.status ? { status: opts.status as Exclude<PipelineStatus, 'running'> } : {}),
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}),
          limit: opts.limit,
        });
        if (opts.json) return printJson(rows);
        printTable(
          rows.map((h) => ({
            id: h.id,
            name: h.name,
            final_state: h.finalState,
            status: h.status,
            loops: budgetsText(h.retries, h.budgets),
            stages: h.path.length,
            completed: formatTime(h.completedAt),
            duration: `${h.durationMs} ms`,
            reason: shorten(h.statusReason ?? '', 60),
          })),
        );
      });
    });
}

function printDetail({ pipeline: p, stages, events }: PipelineDetail): void {
  const out = process.stdout;
  printTable([
    { field: 'id', value: p.id },
    { field: 'name', value: p.name },
    { field: 'status', value: p.status + (p.statusReason ? ` (${p.statusReason})` : '') },
    { field: 'state', value: p.state },
    { field: 'where', value: p.archived ? `pipeline_history (archived ${formatTime(p.archivedAt)})` : 'pipelines (live)' },
    { field: 'loops', value: `${p.loops} (${budgetsText(p.retries, p.budgets)})` },
    { field: 'feedback', value: p.feedback ? shorten(`${p.feedback.fromStage}: ${p.feedback.message}`, 100) : '' },
    { field: 'context', value: shorten(JSON.stringify(p.context), 100) },
    { field: 'run', value: p.runId ?? '' },
    { field: 'started', value: formatTime(p.createdAt) },
    { field: 'finished', value: formatTime(p.finishedAt) },
    { field: 'duration', value: p.durationMs === null ? '' : `${p.durationMs} ms` },
  ]);
  out.write('\nstages\n');
  printTable(
    stages.map((s, i) => ({
      n: i + 1,
      stage: s.stage,
      job: s.jobId,
      outcome: s.outcome + (s.route ? ` (${s.route})` : ''),
      attempts: s.attempts.map((a) => a.status).join(', '),
      at: formatTime(s.at),
      next: s.next ?? '',
      error: shorten(s.job?.statusReason ?? '', 50),
    })),
    { keep: ['job'] },
  );
  out.write('\nevents\n');
  printTable(events.map((e) => ({ seq: e.seq, type: e.type, at: formatTime(e.createdAt), actor: e.actor, payload: shorten(JSON.stringify(e.payload), 80) })));
}

/** `ci 1/2, review 0/2`: loops used of each budget. */
function budgetsText(retries: Record<string, number>, budgets: Record<string, number>): string {
  return Object.entries(budgets)
    .map(([name, max]) => `${name} ${Object.hasOwn(retries, name) ? retries[name] : 0}/${max}`)
    .join(', ');
}

function parseStatus(raw: string): PipelineStatus {
  if (!(statuses as readonly string[]).includes(raw)) throw new InvalidOptionError('--status', statuses.join(', '), raw);
  return raw as PipelineStatus;
}

/** `name=max`, collected as own properties (a computed key: `__proto__` stays a name, refused later). */
function parseBudget(raw: string, previous: Record<string, number> = {}): Record<string, number> {
  const match = /^([^=]+)=(\d+)$/.exec(raw);
  if (!match) throw new InvalidOptionError('--budget', 'name=max, e.g. ci=3', raw);
  return { ...previous, [match[1]!]: Number(match[2]) };
}

/** `0`, a number of ms, or a span: `30s`, `15m`, `2h`, `7d`. */
function parseSpan(raw: string): number {
  const span = /^(\d+)(s|m|h|d)?$/.exec(raw);
  const ms = span ? Number(span[1]) * (span[2] ? { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 's' | 'm' | 'h' | 'd'] : 1) : NaN;
  // A span past what a Date can reach back is a typo, not "everything".
  if (!Number.isSafeInteger(ms) || ms > 8_640_000_000_000_000) throw new InvalidOptionError('--older-than', 'a span like 0, 30s, 15m, 2h, 7d', raw);
  return ms;
}
