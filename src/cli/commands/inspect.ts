/**
 * Commands that read the ledger: jobs, show, events, runs. What an action needs beyond commander is
 * imported inside it (cli/context.ts says why); they open the store alone (`withLedger`), never
 * Redis, except `events --follow`, which is woken through Redis.
 */
import { once } from 'node:events';
import type { Command } from 'commander';
import type { JobKind, JobStatus, RunStatus, SubjectType } from '../../store/index.js';
import { InvalidOptionError } from '../../errors.js';
import { withJobLedger, withLedger, type GlobalOptions } from '../context.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';
import { eventPages, jobPages, writeJsonArray } from '../job-pages.js';
import { parseInteger, parseJsonObject, parseSince, parseWhere } from '../parse.js';

export function registerInspectCommands(program: Command, global: () => GlobalOptions): void {
  program
    .command('jobs')
    .description('list jobs, newest first')
    .option('--status <status>', 'pending, queued, delayed, running, completed, failed or cancelled')
    .option('--name <name>', 'job type')
    .option('--run <run-id>', 'run')
    .option('--kind <kind>', 'job (not part of a pipeline) or stage (a pipeline stage\'s job)', parseKind)
    .option('--since <time>', 'created since: ISO time or 15m, 2h, 7d', (raw) => parseSince(raw))
    .option('--where <path=value>', 'payload field equals value (repeatable)', parseWhere)
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { status?: JobStatus; name?: string; run?: string; kind?: JobKind; since?: number; where?: Record<string, string>; limit: number; json?: boolean }) => {
      await withLedger(async ({ ledger }) => {
        // Page by page (job-pages.ts): memory bounded by a page, whatever --limit says.
        const pages = jobPages(
          ledger,
          {
            ...(opts.status ? { status: opts.status } : {}),
            ...(opts.name ? { name: opts.name } : {}),
            ...(opts.run ? { runId: opts.run } : {}),
            ...(opts.kind ? { kind: opts.kind } : {}),
            ...(opts.since !== undefined ? { since: opts.since } : {}),
            ...(opts.where ? { where: opts.where } : {}),
          },
          opts.limit,
        );
        if (opts.json) return writeJsonArray(pages);
        const rows = [];
        for await (const page of pages) {
          for (const j of page) {
            rows.push({
              id: j.id,
              // A pipeline stage's job says so: its failure is its pipeline's business (pipelines show).
              kind: j.pipelineId === null ? 'job' : 'stage',
              name: j.name,
              status: j.status,
              attempts: `${j.attemptsStarted}/${j.maxAttempts}`,
              created: formatTime(j.createdAt),
              reason: shorten(j.statusReason ?? '', 60),
            });
          }
        }
        printTable(rows);
      });
    });

  program
    .command('show <job-id>')
    .description('one job with its attempts and its event timeline')
    .option('--json', 'print JSON')
    .action(async (jobId: string, opts: { json?: boolean }) => {
      await withLedger(async ({ ledger, config }) => {
        const [{ assertId, ReplayStore }, { NotFoundError }] = await Promise.all([import('../../store/index.js'), import('../../errors.js')]);
        // A live job first; one the cold archive holds is read from its segment, checksum first.
        const id = assertId('job', jobId);
        const archived = await ledger.getJobDetail(id).then(
          (live) => ({ record: live, segmentId: null }),
          async (error: unknown) => {
            if (!(error instanceof NotFoundError)) throw error;
            const { ColdArchive } = await import('../../jobs/archive/cold-archive.js');
            const archive = new ColdArchive(ledger, config);
            try {
              return (await archive.locate(id)) ?? Promise.reject(error);
            } finally {
              await archive.close();
            }
          },
        );
        const { record: detail, segmentId: archivedIn } = archived;
        const lineage = await new ReplayStore(ledger).lineage(detail.job.id);
        if (opts.json) return printJson({ ...detail, lineage, ...(archivedIn ? { archivedIn } : {}) });
        const { job } = detail;
        printTable([
          { field: 'id', value: job.id },
          ...(archivedIn ? [{ field: 'archived', value: `in segment ${archivedIn}` }] : []),
          { field: 'name', value: job.name },
          { field: 'queue', value: job.queue },
          { field: 'status', value: job.status + (job.statusReason ? ` (${job.statusReason})` : '') },
          { field: 'attempts', value: `${job.attemptsStarted} started, ${job.attemptsFailed} failed in budget, max ${job.maxAttempts}` },
          { field: 'run', value: job.runId ?? '' },
          { field: 'payload', value: shorten(JSON.stringify(job.payload), 100) },
          { field: 'result', value: shorten(JSON.stringify(job.result), 100) },
          { field: 'progress', value: JSON.stringify(job.progress) },
          { field: 'created', value: formatTime(job.createdAt) },
          { field: 'dispatched', value: formatTime(job.dispatchedAt) },
          { field: 'started', value: formatTime(job.startedAt) },
          { field: 'finished', value: formatTime(job.finishedAt) },
          ...(lineage.replayOf ? [{ field: 'replay of', value: `${lineage.replayOf.replayOf} (replay ${lineage.replayOf.replayId} "${lineage.replayOf.replayName}")` }] : []),
          ...(lineage.replayedAs.length
            ? [{ field: 'replayed as', value: lineage.replayedAs.map((r) => `${r.jobId} (replay ${r.replayId})`).join(', ') }]
            : []),
        ]);
        process.stdout.write('\nattempts\n');
        printTable(
          detail.attempts.map((a) => ({
            n: a.number,
            status: a.status,
            worker: a.workerId,
            started: formatTime(a.startedAt),
            ms: a.durationMs,
            error: shorten((a.error as { message?: string } | null)?.message ?? '', 60),
          })),
        );
        process.stdout.write('\nevents\n');
        printTable(
          detail.events.map((e) => ({ seq: e.seq, type: e.type, at: formatTime(e.createdAt), actor: e.actor, payload: shorten(JSON.stringify(e.payload), 80) })),
        );
      });
    });

  program
    .command('events')
    .description('the event log, newest first; with --follow, every event from now (or after --after) as it commits')
    .option('--type <type>', 'e.g. job.failed (repeatable)', (raw: string, previous: string[] = []) => [...previous, raw])
    .option('--subject <id>', 'a job, run or other subject id')
    .option('--subject-type <type>', 'job, run, pipeline, state or operator')
    .option('--since <time>', 'ISO time or 15m, 2h, 7d', (raw) => parseSince(raw))
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--follow', 'print events as they commit, oldest first, until stopped (SIGINT, SIGTERM)')
    .option('--after <event-id>', 'with --follow: start after this event (the last one printed before), not at the end of the log')
    .option('--json', 'print JSON (with --follow: one object per line)')
    .action(async (opts: EventsOptions) => {
      if (opts.follow) return followEvents(global(), opts);
      if (opts.after !== undefined) throw new InvalidOptionError('--after', 'to come with --follow', opts.after);
      await withLedger(async ({ ledger }) => {
        // Page by page (job-pages.ts): memory bounded by a page, whatever --limit says.
        const pages = eventPages(
          ledger,
          {
            ...(opts.type ? { type: opts.type.length === 1 ? opts.type[0]! : opts.type } : {}),
            ...(opts.subject ? { subjectId: opts.subject } : {}),
            ...(opts.subjectType ? { subjectType: opts.subjectType } : {}),
            ...(opts.since !== undefined ? { since: opts.since } : {}),
          },
          opts.limit,
        );
        if (opts.json) return writeJsonArray(pages);
        const rows = [];
        for await (const page of pages) {
          for (const e of page) {
            rows.push({ at: formatTime(e.createdAt), subject: e.subjectId, seq: e.seq, type: e.type, actor: e.actor, payload: shorten(JSON.stringify(e.payload), 70) });
          }
        }
        printTable(rows, { keep: ['subject'] });
      });
    });

  const runs = program
    .command('runs')
    .description('list recent runs (subcommands: create, set-status)')
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 20)
    .option('--json', 'print JSON')
    .action(async (opts: { limit: number; json?: boolean }) => {
      await withLedger(async ({ ledger }) => {
        const list = await ledger.listRuns({ limit: opts.limit });
        if (opts.json) return printJson(list);
        printTable(
          list.map((r) => ({ id: r.id, name: r.name, status: r.status, reason: shorten(r.statusReason ?? '', 50), created: formatTime(r.createdAt), finished: formatTime(r.finishedAt) })),
        );
      });
    });
  // `runs` takes `--json` itself (for the list), so commander hands a subcommand's `--json` to it.
  const runsJson = (): boolean | undefined => runs.opts<{ json?: boolean }>().json;
  runs
    .command('create <name>')
    .description('create a run; prints its id')
    .option('--metadata <json>', 'free metadata, as JSON')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { metadata?: string; json?: boolean }) => {
      const metadata = opts.metadata === undefined ? undefined : parseJsonObject('--metadata', opts.metadata);
      const { defaultActor } = await import('../../jobs/operator.js');
      await withLedger(async ({ ledger }) => {
        const run = await ledger.createRun({ name, metadata, actor: defaultActor() });
        if (opts.json ?? runsJson()) printJson(run);
        else process.stdout.write(`${run.id}\n`);
      });
    });
  runs
    .command('set-status <run-id> <status>')
    .description("set a run's status (open, running, completed, failed, cancelled)")
    .option('--reason <text>', 'why')
    .option('--actor <name>', 'who (recorded in the event and the audit log; default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (runId: string, status: string, opts: { reason?: string; actor?: string; json?: boolean }) => {
      const [{ runStatuses }, { defaultActor }] = await Promise.all([import('../../store/index.js'), import('../../jobs/operator.js')]);
      if (!(runStatuses as readonly string[]).includes(status)) throw new InvalidOptionError('status', runStatuses.join(', '), status);
      await withLedger(async ({ ledger }) => {
        const run = await ledger.setRunStatus({ runId, status: status as RunStatus, reason: opts.reason ?? null, actor: opts.actor ?? defaultActor(), source: 'cli' });
        if (opts.json ?? runsJson()) return printJson(run);
        printTable([{ id: run.id, status: run.status, reason: run.statusReason ?? '' }]);
      });
    });
}

interface EventsOptions {
  type?: string[];
  subject?: string;
  subjectType?: SubjectType;
  since?: number;
  limit: number;
  follow?: boolean;
  after?: string;
  json?: boolean;
}

/**
 * `events --follow`: one line per event, in commit order, until a signal. Each line is written
 * before the next event is read, so the last complete line is the position to resume from
 * (`--after`) after the command stops, however it stops.
 */
async function followEvents(global: GlobalOptions, opts: EventsOptions): Promise<void> {
  for (const [flag, given] of [['--subject', opts.subject], ['--subject-type', opts.subjectType], ['--since', opts.since]] as const) {
    if (given !== undefined) throw new InvalidOptionError(flag, 'to be left out with --follow (it takes --type and --after)', String(given));
  }
  await withJobLedger(global, {}, async (jl) => {
    const subscription = await jl.subscribe({ ...(opts.after ? { after: opts.after } : {}), ...(opts.type ? { types: opts.type } : {}) }, async (e) => {
      const line = opts.json
        ? JSON.stringify(e)
        : [formatTime(e.createdAt), e.id, e.subjectId, e.seq, e.type, e.actor, shorten(JSON.stringify(e.payload), 70)].join('  ');
      if (!process.stdout.write(`${line}\n`)) await once(process.stdout, 'drain');
    });
    const stopped = await Promise.race([
      subscription.done.then(() => undefined),
      ...(['SIGINT', 'SIGTERM'] as const).map((signal) => once(process, signal).then(() => signal)),
    ]);
    if (stopped) process.stderr.write(`stopped (${stopped}); resume with --after ${subscription.lastEventId ?? '(nothing printed)'}\n`);
    await subscription.close();
  });
}

function parseKind(raw: string): JobKind {
  if (raw !== 'job' && raw !== 'stage') throw new InvalidOptionError('--kind', 'job (not part of a pipeline) or stage (a pipeline stage\'s job)', raw);
  return raw;
}
