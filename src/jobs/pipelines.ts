/**
 * `jl.pipelines`: starting pipelines and reading them. Starting one commits the pipeline row, its
 * `pipeline.started` event and its first stage's job in one transaction, then hands the job to Redis
 * (a crash in between leaves it to the outbox relay). Pipelines then advance by themselves, through
 * the outcome hook (pipeline-advance.ts) every worker of this JobLedger runs.
 */
import { InvalidOptionError, NotFoundError } from '../errors.js';
import { archiveFinishedPipelines, existingRunIds, insertJobs, insertPipeline, newId, sqlFor, type ArchivePipelinesOptions, type JobStatus, type Ledger, type OutcomeHook, type PipelineHistoryRow, type PipelineRow } from '../store/index.js';
import { pipelineQueries as queries } from '../store/index.js';
import { isPlainJsonObject, resolveBudgets, type PipelineDefinition } from './define-pipeline.js';
import type { Dispatcher } from './dispatcher.js';
import { createPipelineHook, stageJob } from './pipeline-advance.js';
import type { JobRegistry } from './registry.js';

export interface StartPipelineOptions {
  /** The context document stages read (in their payload) and extend; a JSON object. Default `{}`. */
  context?: Record<string, unknown>;
  /** Overrides of the definition's loop budgets for this instance (e.g. per project). Default none. */
  budgets?: Record<string, number>;
  /** The run (`run_<ulid>`) the pipeline and its stage jobs belong to. Default none. */
  runId?: string;
  /** Who started it, for the `pipeline.started` event. Default `"producer"`. */
  actor?: string;
}

export interface StartedPipeline {
  id: string;
  /** The first stage. */
  stage: string;
  /** The first stage's job. */
  jobId: string;
  /** The job's status as this call left it (`pending` when Redis has not taken it yet). */
  jobStatus: JobStatus;
}

export interface PipelinesOptions {
  ledger: Ledger;
  registry: JobRegistry;
  dispatcher: Dispatcher;
  maxPayloadBytes: number;
  /** Deepest accepted payload nesting (Config.maxJsonDepth). Default 64. */
  maxJsonDepth?: number;
  /** Checked against the registry already (see `registerPipelines`). */
  definitions: ReadonlyMap<string, PipelineDefinition>;
}

export class Pipelines {
  /** Joins every applied attempt outcome's transaction; registered on the JobLedger's workers. */
  readonly outcomeHook: OutcomeHook;

  constructor(private readonly options: PipelinesOptions) {
    this.outcomeHook = createPipelineHook(options);
  }

  /** Names of the registered pipelines, sorted. */
  names(): string[] {
    return [...this.options.definitions.keys()].sort();
  }

  definition(name: string): PipelineDefinition {
    const definition = this.options.definitions.get(name);
    if (!definition) throw new InvalidOptionError('pipeline', `a registered pipeline (${this.names().join(', ') || 'none registered'})`, name);
    return definition;
  }

  /** Starts a pipeline at its start stage. Everything is validated before anything is written. */
  async start(name: string, options: StartPipelineOptions = {}): Promise<StartedPipeline> {
    const definition = this.definition(name);
    const given: unknown = options; // checked as given: callers from JavaScript may pass anything
    if (!isPlainJsonObject(given)) throw new InvalidOptionError('options', 'an object', given);
    const context = options.context ?? {};
    if (!isPlainJsonObject(context)) throw new InvalidOptionError('context', 'a JSON object', context);
    const budgets = resolveBudgets(definition, options.budgets);
    const actor = options.actor ?? 'producer';
    const runId = options.runId ?? null;
    const id = newId('pip');
    const now = Date.now();
    const retries = Object.fromEntries(Object.keys(budgets).map((b) => [b, 0]));
    // Validates the context as part of the first stage's payload (schema, plain JSON, size cap).
    const job = stageJob(this.options, definition, { id, name, runId }, { to: definition.start, visit: 1, context, retries }, now, actor);

    const inserted = await this.options.ledger.unitOfWork(async (em) => {
      if (runId !== null && !(await existingRunIds(em, [runId])).has(runId)) throw new NotFoundError('run', runId);
      await insertPipeline(em, { id, name, runId, stage: definition.start, jobId: job.id, context, budgets, actor, now });
      // Jobs go in through the enqueue path's statements (job-writes.ts), on this transaction's connection.
      const [first] = await insertJobs(sqlFor(em), [job]);
      return first!.job;
    });
    // Only now, after the commit, may Redis hear of the job.
    const report = await this.options.dispatcher.dispatch([inserted]);
    return { id, stage: definition.start, jobId: job.id, jobStatus: report.dispatched.includes(job.id) ? 'queued' : 'pending' };
  }

  /** A pipeline, live or archived. NotFoundError if there is none. */
  get(pipelineId: string): Promise<queries.PipelineSummary> {
    return this.options.ledger.readEntities((em) => queries.getPipeline(em, pipelineId));
  }

  /** Pipelines by id, live or archived (missing ids left out), in the order asked. */
  find(pipelineIds: readonly string[]): Promise<queries.PipelineSummary[]> {
    return this.options.ledger.readEntities((em) => queries.findPipelines(em, pipelineIds));
  }

  /** A pipeline with each stage visit's job and attempts, and its events. */
  detail(pipelineId: string): Promise<queries.PipelineDetail> {
    return this.options.ledger.readEntities((em) => queries.getPipelineDetail(em, pipelineId));
  }

  /** Live (not yet archived) pipelines, newest first. */
  list(filter?: queries.PipelineFilter): Promise<PipelineRow[]> {
    return this.options.ledger.readEntities((em) => queries.listPipelines(em, filter));
  }

  /** Archived pipelines, most recently completed first. */
  history(filter?: queries.PipelineHistoryFilter): Promise<PipelineHistoryRow[]> {
    return this.options.ledger.readEntities((em) => queries.listPipelineHistory(em, filter));
  }

  /** Moves finished pipelines to the history; see `archiveFinishedPipelines`. */
  archiveFinished(options: ArchivePipelinesOptions): Promise<{ archived: number }> {
    return archiveFinishedPipelines(this.options.ledger, options);
  }
}
