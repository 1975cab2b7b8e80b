/**
 * The pipeline half of `jobledger demo`: runs a batch of ticket pipelines (demo/demo-pipeline.ts)
 * through a worker until every one has ended, archives the finished pipelines, and summarises them:
 * by final state, loops per budget, archived count. Outcomes are deterministic: each ticket's script
 * says how often its tests fail and its reviews request changes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { StartPipelineOptions } from '../jobs/pipelines.js';
import { ticketPipeline, type TicketContext } from './demo-pipeline.js';
import type { JobLedger } from '../jobledger.js';
import { archiveFinishedPipelines } from '../store/index.js';
import { printTable } from '../cli/output.js';
import { ProgressBar } from '../cli/progress-bar.js';

export interface PipelineDemoSummary {
  run: string;
  pipeline: string;
  started: number;
  /** Final states (`merged`, `failed`, ...) and how many pipelines ended in each. */
  byFinalState: Record<string, number>;
  succeeded: number;
  failed: number;
  /** Loops back to an earlier stage, in all and per budget. */
  loops: number;
  loopsByBudget: Record<string, number>;
  /** Pipelines that ended because a loop budget ran out. */
  budgetExhausted: number;
  /** Stage jobs run (a loop runs stages again). */
  stageJobs: number;
  /** Pipelines moved to the history by `archiveFinishedPipelines` (olderThanMs 0). */
  archived: number;
  elapsedMs: number;
}

/** Runs `count` ticket pipelines; null when there are none to run or the ticket pipeline is not registered. */
export async function runPipelineDemo(jl: JobLedger, opts: { pipelines: number; concurrency: number }): Promise<PipelineDemoSummary | null> {
  if (opts.pipelines === 0 || !jl.pipelines.names().includes(ticketPipeline.name)) return null;
  const run = await jl.ledger.createRun({ name: 'demo-pipelines', metadata: { pipelines: opts.pipelines }, actor: 'demo' });
  return failRunOnError(jl, run.id, () => pipelineDemo(jl, run.id, opts));
}

/** Runs `work` for the run `runId`; if it throws, the run is marked `failed` with the error, never left open. */
export async function failRunOnError<T>(jl: JobLedger, runId: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const reason = `the demo stopped: ${error instanceof Error ? error.message : String(error)}`.slice(0, 2000);
    await jl.ledger.setRunStatus({ runId, status: 'failed', reason, actor: 'demo' }).catch(() => undefined);
    throw error;
  }
}

async function pipelineDemo(jl: JobLedger, runId: string, opts: { pipelines: number; concurrency: number }): Promise<PipelineDemoSummary> {
  const run = { id: runId };
  const worker = jl.createWorker({ concurrency: opts.concurrency });
  const started = Date.now();
  const ids: string[] = [];
  try {
    await worker.start();
    for (let i = 0; i < opts.pipelines; i++) {
      const { id } = await jl.pipelines.start(ticketPipeline.name, { ...ticketScript(i), runId: run.id, actor: 'demo' });
      ids.push(id);
    }
    const bar = new ProgressBar(ids.length);
    for (;;) {
      const found = await jl.pipelines.find(ids);
      const done = found.filter((p) => p.status !== 'running').length;
      bar.update(done, `pipelines: ${done} ended, ${ids.length - done} running`);
      if (done >= ids.length) break;
      await sleep(100);
    }
    bar.finish();
  } finally {
    await worker.close();
  }
  const elapsedMs = Date.now() - started;
  const { archived } = await archiveFinishedPipelines(jl.ledger, { olderThanMs: 0, now: Date.now() });

  const ended = await jl.pipelines.find(ids);
  const byFinalState: Record<string, number> = {};
  const loopsByBudget: Record<string, number> = {};
  for (const p of ended) {
    byFinalState[p.state] = (byFinalState[p.state] ?? 0) + 1;
    for (const [budget, n] of Object.entries(p.retries)) loopsByBudget[budget] = (loopsByBudget[budget] ?? 0) + n;
  }
  const failed = ended.filter((p) => p.status === 'failed').length;
  await jl.ledger.setRunStatus({ runId: run.id, status: failed ? 'failed' : 'completed', reason: `${ended.length - failed} merged, ${failed} failed`, actor: 'demo' });
  return {
    run: run.id,
    pipeline: ticketPipeline.name,
    started: ids.length,
    byFinalState,
    succeeded: ended.filter((p) => p.status === 'succeeded').length,
    failed,
    loops: ended.reduce((n, p) => n + p.loops, 0),
    loopsByBudget,
    budgetExhausted: ended.filter((p) => p.statusReason?.startsWith('budget ')).length,
    stageJobs: ended.reduce((n, p) => n + p.path.length, 0),
    archived,
    elapsedMs,
  };
}

/**
 * The demo's mix, per ten tickets: four merge first time, two fail a test run once, one gets a
 * review asking for changes once, one fails its tests three times (the `ci` budget of 2 runs out),
 * one has three reviews request changes (the `review` budget runs out), and one, with a flaky
 * coding stage, fails its tests three times but merges: its project raised its `ci` budget to 3.
 */
export function ticketScript(i: number): StartPipelineOptions {
  const ticket = { id: `T-${1000 + i}`, title: `demo ticket ${i}` };
  const context = (script: Partial<TicketContext['script']>): Record<string, unknown> => ({ ticket, script });
  switch (i % 10) {
    case 4:
    case 5:
      return { context: context({ failTests: 1 }) };
    case 6:
      return { context: context({ requestChanges: 1 }) };
    case 7:
      return { context: context({ failTests: 3 }) };
    case 8:
      return { context: context({ requestChanges: 3 }) };
    case 9:
      return { context: context({ failTests: 3, flakyCoding: true }), budgets: { ci: 3 } };
    default:
      return { context: context({}) };
  }
}

/** `database`: the demo's ledger, named in the commands to look at it (it is not DATABASE_URL's). */
export function printPipelineDemoSummary(s: PipelineDemoSummary | null | undefined, database: string): void {
  if (!s) return;
  const out = process.stdout;
  out.write(`\npipelines: ${s.started} "${s.pipeline}" pipelines, run ${s.run}\n\n`);
  printTable(Object.entries(s.byFinalState).map(([state, n]) => ({ final_state: state, pipelines: n })));
  out.write('\n');
  printTable([
    { figure: 'succeeded / failed', value: `${s.succeeded} / ${s.failed}` },
    { figure: 'loops', value: `${s.loops} (${Object.entries(s.loopsByBudget).map(([b, n]) => `${b} ${n}`).join(', ')})` },
    { figure: 'ended on an exhausted budget', value: s.budgetExhausted },
    { figure: 'stage jobs', value: s.stageJobs },
    { figure: 'archived to history', value: s.archived },
    { figure: 'elapsed', value: `${s.elapsedMs} ms` },
  ]);
  out.write(`\nInspect them: DATABASE_URL=${database} jobledger history --final-state failed, then pipelines show <pipeline-id> the same way\n`);
}
