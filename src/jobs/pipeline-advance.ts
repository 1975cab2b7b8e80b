/**
 * Advancing pipelines: an `OutcomeHook` that runs inside the transaction of a stage job's applied
 * outcome. When the outcome is final (completed or failed; a retry stays in the same stage), it locks
 * the pipeline, checks the job is still its running stage, decides the transition (one pure
 * function, pipeline-transition.ts), records the step with its event and inserts the next stage's job,
 * which it returns so the worker hands it to Redis after the commit (the relay covers a crash). The
 * stage's outcome, the pipeline's step and the next job commit together or not at all.
 */
import { JobLedgerError } from '../errors.js';
import { insertJobs, lockPipeline, recordPipelineStep, type NewJob, type OutcomeHook, type PipelineRow, type PipelineStep } from '../store/index.js';
import type { PipelineDefinition, StagePayload } from './define-pipeline.js';
import { decideTransition, type FinishedStage, type Transition } from './pipeline-transition.js';
import type { JobRegistry } from './registry.js';
import { validateEnqueue } from './validate-enqueue.js';

export interface PipelineDeps {
  definitions: ReadonlyMap<string, PipelineDefinition>;
  registry: JobRegistry;
  maxPayloadBytes: number;
  /** Deepest accepted payload nesting (Config.maxJsonDepth). Default 64. */
  maxJsonDepth?: number;
}

/** The actor recorded on steps the pipeline takes by itself. */
const systemActor = 'system';

export function createPipelineHook(deps: PipelineDeps): OutcomeHook {
  return async (tx, { job, outcome, now }) => {
    if (!job.pipelineId || (outcome.type !== 'completed' && outcome.type !== 'failed')) return;
    const pipeline = await lockPipeline(tx, job.pipelineId);
    // Not the running stage of a running pipeline (any more): e.g. an operator gave the job a new
    // life after its pipeline had ended. The job's own outcome stands; the pipeline stays as it is.
    if (!pipeline || pipeline.status !== 'running' || pipeline.currentJobId !== job.id) return;

    const finished: FinishedStage =
      outcome.type === 'completed'
        ? { type: 'completed', jobId: job.id, result: outcome.result }
        : { type: 'failed', jobId: job.id, reason: outcome.reason, error: outcome.error };
    const definition = deps.definitions.get(pipeline.name);
    let transition: Transition = definition
      ? decideTransition(definition, { stage: pipeline.state, context: pipeline.context, budgets: pipeline.budgets, retries: pipeline.retries }, finished)
      : endFailed(pipeline, `pipeline "${pipeline.name}" is not registered in the process that ran stage "${pipeline.state}"`);

    let next: NewJob | null = null;
    if (transition.kind !== 'end') {
      const entering = transition;
      // Visits so far: the path, plus the stage being left (not in the path yet).
      const visit = [...pipeline.path.map((e) => e.stage), pipeline.state].filter((s) => s === entering.to).length + 1;
      try {
        next = stageJob(deps, definition!, pipeline, { ...entering, visit }, now);
      } catch (error) {
        // The next stage's payload does not pass its job type's schema or size cap: the pipeline
        // cannot go on, and says why, rather than failing the stage's outcome with it.
        if (!(error instanceof JobLedgerError)) throw error;
        transition = endFailed(pipeline, `could not start stage "${entering.to}": ${error.message}`, entering.context);
      }
    }
    await recordPipelineStep(tx, pipeline, stepFor(pipeline, transition, finished, next?.id ?? null, now));
    if (!next) return;
    const [inserted] = await insertJobs(tx, [next]);
    return [inserted!.job];
  };
}

/** The job of a pipeline's stage, validated like any enqueue (schema, JSON, size) before anything is written. */
export function stageJob(
  deps: Pick<PipelineDeps, 'registry' | 'maxPayloadBytes' | 'maxJsonDepth'>,
  definition: PipelineDefinition,
  pipeline: Pick<PipelineRow, 'id' | 'name' | 'runId'>,
  entering: { to: string; visit: number; context: Record<string, unknown>; retries: Record<string, number>; feedback?: StagePayload['feedback'] },
  now: number,
  actor = systemActor,
): NewJob {
  const payload: StagePayload = {
    pipelineId: pipeline.id,
    pipeline: pipeline.name,
    stage: entering.to,
    visit: entering.visit,
    context: entering.context,
    feedback: entering.feedback ?? null,
    retries: entering.retries,
  };
  const job = validateEnqueue(
    deps.registry,
    { name: definition.stages[entering.to]!.job, payload, options: { actor, ...(pipeline.runId ? { runId: pipeline.runId } : {}) } },
    { maxPayloadBytes: deps.maxPayloadBytes, ...(deps.maxJsonDepth !== undefined ? { maxJsonDepth: deps.maxJsonDepth } : {}) },
    now,
  );
  return { ...job, pipelineId: pipeline.id, stage: entering.to };
}

function stepFor(pipeline: PipelineRow, t: Transition, finished: FinishedStage, nextJobId: string | null, now: number): PipelineStep {
  const route = t.route === null ? {} : { route: t.route };
  const left = { stage: pipeline.state, jobId: finished.jobId, outcome: finished.type, ...route };
  const common = { context: t.context, retries: t.retries, actor: systemActor, now };
  const entry = { ...left, at: now, next: t.kind === 'end' ? t.state : t.to };
  switch (t.kind) {
    case 'advance':
      return {
        ...common, entry, state: t.to, status: 'running', statusReason: null, loops: pipeline.loops, feedback: pipeline.feedback,
        currentJobId: nextJobId,
        event: { type: 'pipeline.stage_completed', payload: { ...left, next: t.to, nextJobId } },
      };
    case 'loop':
      return {
        ...common, entry, state: t.to, status: 'running', statusReason: null, loops: pipeline.loops + 1, feedback: t.feedback,
        currentJobId: nextJobId,
        event: {
          type: 'pipeline.looped',
          payload: { ...left, to: t.to, budget: t.budget, used: t.used, max: t.max, feedback: t.feedback.message, nextJobId },
        },
      };
    case 'end':
      return {
        ...common, entry, state: t.state, status: t.status, statusReason: t.reason, loops: pipeline.loops,
        feedback: t.feedback ?? pipeline.feedback, currentJobId: null,
        event: {
          type: t.status === 'succeeded' ? 'pipeline.succeeded' : 'pipeline.failed',
          payload: { ...left, state: t.state, ...(t.reason === null ? {} : { reason: t.reason }) },
        },
      };
  }
}

function endFailed(pipeline: PipelineRow, reason: string, context = pipeline.context): Transition {
  return { kind: 'end', status: 'failed', state: 'failed', reason, route: null, context, retries: pipeline.retries };
}
