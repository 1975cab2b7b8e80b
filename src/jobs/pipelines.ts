/**
 * `jl.pipelines`: starting pipelines and reading them. Starting one commits the pipeline row, its
 * `pipeline.started` event and its first stage's job in one transaction, then hands the job to Redis
 * (a crash in between leaves it to the outbox relay). Pipelines then advance by themselves, through
 * the outcome hook (pipeline-advance.ts) every worker of this JobLedger runs.
 */
import { InvalidOptionError, NotFoundError } from '../errors.js';
import { archiveFinishedPipelines, assertId, checkAuditSource, existingRunIds, insertJobs, insertPipeline, newId, sqlFor, type ArchivePipelinesOptions, type AuditSource, type JobRow, type JobStatus, type Ledger, type NewJob, type OperatorResult, type OutcomeHook, type PipelineHistoryRow, type PipelineRow, type RetryStageJob } from '../store/index.js';
import { pipelineQueries as queries } from '../store/index.js';
import { isPlainJsonObject, resolveBudgets, type PipelineDefinition } from './define-pipeline.js';
import type { Dispatcher } from './dispatcher.js';
import { createPipelineHook, stageJob } from './pipeline-advance.js';
import type { JobRegistry } from './registry.js';
import { checkedReasonAndActor, type Operator } from './operator.js';
import type { StagePayload } from './define-pipeline.js';

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
  /** Brings Redis in line after a pipeline's cancel (its stage jobs' cancels). */
  operator: Pick<Operator, 'afterCancel'>;
}

export interface PipelineActionInput {
  pipelineId: string;
  /** Why: required, recorded in the pipeline's event and its jobs' events. */
  reason: string;
  /** Who: recorded in the events. Default the OS user. */
  actor?: string;
  /** Where the action came from, for its audit row: `cli`, `api` or `library` (the default). */
  source?: AuditSource;
}

export interface PipelineActionResult {
  id: string;
  previousStatus: PipelineRow['status'];
  status: PipelineRow['status'];
  /** The current stage, or the terminal state (`cancelled`). */
  state: string;
  /** cancel: the stage jobs it cancelled; retry: the new stage job. */
  jobs: { id: string; previousStatus: JobStatus | null; status: JobStatus }[];
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

  /**
   * Cancels a running pipeline: it ends `failed` in state `cancelled` (the reason names the actor),
   * with a `pipeline.cancelled` event, and its unfinished stage jobs are cancelled (a running attempt
   * is told to abort), all in one transaction. IllegalTransitionError unless it is running.
   */
  async cancel(input: PipelineActionInput): Promise<PipelineActionResult> {
    const request = { pipelineId: assertId('pip', input.pipelineId), ...checkedReasonAndActor(input), source: checkAuditSource(input.source ?? 'library') };
    const { pipeline, cancelledJobs } = await this.options.ledger.cancelPipeline(request);
    for (const result of cancelledJobs) await this.options.operator.afterCancel(result);
    return { id: pipeline.id, previousStatus: 'running', status: pipeline.status, state: pipeline.state, jobs: cancelledJobs.map(jobChange) };
  }

  /**
   * Runs a failed or cancelled pipeline again from the stage whose visit ended it: a new job for that
   * stage (payload with the pipeline's context, loop counters and latest feedback; loop budgets are
   * not refilled), the pipeline `running` again with a `pipeline.retried` event. The new job is built
   * from the pipeline's definition when this process registers it, else from the ended stage's job
   * (same job type, queue and options). IllegalTransitionError unless it failed and is not archived.
   */
  async retry(input: PipelineActionInput): Promise<PipelineActionResult> {
    const request = { pipelineId: assertId('pip', input.pipelineId), ...checkedReasonAndActor(input), source: checkAuditSource(input.source ?? 'library') };
    const makeJob: RetryStageJob = ({ pipeline, stage, visit, previous }) => {
      const entering = { to: stage, visit, context: pipeline.context, retries: pipeline.retries, feedback: pipeline.feedback };
      const definition = this.options.definitions.get(pipeline.name);
      if (definition?.stages[stage]) return stageJob(this.options, definition, pipeline, entering, request.now, request.actor);
      if (previous) return jobLike(previous, pipeline, entering, request.now, request.actor);
      throw new InvalidOptionError('pipelineId', `a pipeline whose stage "${stage}" job is still in the ledger, or whose definition "${pipeline.name}" this process registers`, request.pipelineId);
    };
    const retried = await this.options.ledger.retryPipeline(request, makeJob);
    const report = await this.options.dispatcher.dispatch([retried.job]);
    const status: JobStatus = report.dispatched.includes(retried.job.id) ? 'queued' : 'pending';
    return { id: retried.pipeline.id, previousStatus: 'failed', status: retried.pipeline.status, state: retried.stage, jobs: [{ id: retried.job.id, previousStatus: null, status }] };
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

function jobChange(result: OperatorResult): PipelineActionResult['jobs'][number] {
  return { id: result.job.id, previousStatus: result.previousStatus, status: result.job.status };
}

/** A stage job like the ended one (same type, queue and options), with the stage payload of this visit. */
function jobLike(
  previous: JobRow,
  pipeline: PipelineRow,
  entering: { visit: number; context: Record<string, unknown>; retries: Record<string, number>; feedback: StagePayload['feedback'] },
  now: number,
  actor: string,
): NewJob {
  const before = isPlainJsonObject(previous.payload) ? previous.payload : {};
  const payload = { ...before, visit: entering.visit, context: entering.context, feedback: entering.feedback, retries: entering.retries };
  return {
    id: newId('job'), queue: previous.queue, name: previous.name, payload, priority: previous.priority, runId: pipeline.runId,
    idempotencyKey: null, maxAttempts: previous.maxAttempts, backoff: previous.backoff, timeoutMs: previous.timeoutMs, runAt: now,
    createdAt: now, actor, pipelineId: pipeline.id, stage: previous.stage,
  };
}
