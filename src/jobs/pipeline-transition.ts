/**
 * The one pure function that decides where a pipeline goes when its stage's job ends: on to a later
 * stage, back through a loop (if its budget allows), or to a terminal state. No I/O: the outcome hook
 * (jobs/pipeline-advance.ts) reads the pipeline, calls this, and writes what it says.
 */
import { clipText, type PipelineFeedback, type PipelineStatus, type SerializedError } from '../store/index.js';
import { isPlainJsonObject, type PipelineDefinition, type StageChoice, type StageTarget } from './define-pipeline.js';

/** How the running stage's job ended. */
export type FinishedStage =
  | { type: 'completed'; jobId: string; result: unknown }
  | { type: 'failed'; jobId: string; reason: string; error: SerializedError | null };

/** The part of a running pipeline the decision depends on. */
export interface PipelinePosition {
  stage: string;
  context: Record<string, unknown>;
  budgets: Record<string, number>;
  retries: Record<string, number>;
}

interface TransitionBase {
  /** The route a `choose` function picked, when the stage has one. */
  route: string | null;
  /** The context after the stage (a completed stage's `result.context` merged in, top-level keys). */
  context: Record<string, unknown>;
  retries: Record<string, number>;
}

export type Transition =
  | (TransitionBase & { kind: 'advance'; to: string })
  | (TransitionBase & { kind: 'loop'; to: string; budget: string; used: number; max: number; feedback: PipelineFeedback })
  | (TransitionBase & {
      kind: 'end';
      status: Exclude<PipelineStatus, 'running'>;
      state: string;
      reason: string | null;
      /** Why it ended, for a failed end; undefined keeps the pipeline's last feedback. */
      feedback?: PipelineFeedback;
    });

const maxMessageChars = 1000;

export function decideTransition(definition: PipelineDefinition, at: PipelinePosition, finished: FinishedStage): Transition {
  const base: TransitionBase = { route: null, context: at.context, retries: at.retries };
  const failWith = (reason: string, feedback?: PipelineFeedback): Transition => ({
    ...base,
    kind: 'end',
    status: 'failed',
    state: 'failed',
    reason: clip(reason),
    ...(feedback ? { feedback } : {}),
  });

  // Own properties only: a stored stage name such as `constructor` is no stage.
  const stage = Object.hasOwn(definition.stages, at.stage) ? definition.stages[at.stage] : undefined;
  if (!stage) return failWith(`stage "${at.stage}" is not a stage of pipeline "${definition.name}" (was the definition changed?)`);
  const on = stage.on as { completed: StageTarget | StageChoice; failed: StageTarget };

  let target: StageTarget;
  if (finished.type === 'failed') {
    target = on.failed;
  } else {
    const result = finished.result;
    if (isPlainJsonObject(result) && 'context' in result) {
      if (!isPlainJsonObject(result.context)) {
        return failWith(`stage "${at.stage}" returned a \`context\` that is not a JSON object: ${describe(result.context)}`);
      }
      base.context = { ...at.context, ...result.context };
    }
    if (isChoice(on.completed)) {
      let route: unknown;
      try {
        route = on.completed.choose(result);
      } catch (error) {
        return failWith(`stage "${at.stage}": choose() threw: ${thrownMessage(error)}`);
      }
      if (typeof route !== 'string' || !Object.hasOwn(on.completed.routes, route)) {
        return failWith(`stage "${at.stage}": choose() returned ${describe(route)}, not one of its routes (${Object.keys(on.completed.routes).join(', ')})`);
      }
      base.route = route;
      target = on.completed.routes[route]!;
    } else {
      target = on.completed;
    }
  }

  if (typeof target === 'string') return { ...base, kind: 'advance', to: target };

  const feedback = feedbackOf(at.stage, finished, base.route);
  if ('loopTo' in target) {
    const used = ownCount(at.retries, target.budget);
    const max = ownCount(at.budgets, target.budget);
    if (used >= max) {
      return failWith(
        `budget "${target.budget}" exhausted: ${used} of ${max} loop(s) back to "${target.loopTo}" used; last: ${feedback.message}`,
        feedback,
      );
    }
    return {
      ...base,
      kind: 'loop',
      to: target.loopTo,
      budget: target.budget,
      used: used + 1,
      max,
      feedback,
      retries: { ...at.retries, [target.budget]: used + 1 },
    };
  }

  const state = target.state ?? target.end;
  if (target.end === 'succeeded') return { ...base, kind: 'end', status: 'succeeded', state, reason: null };
  return {
    ...base,
    kind: 'end',
    status: 'failed',
    state,
    reason: clip(`stage "${at.stage}" ${finished.type === 'failed' ? 'failed' : 'ended the pipeline'}: ${feedback.message}`),
    feedback,
  };
}

/** What the next stage (or the record) learns about why: the failure reason, or what the stage said. */
export function feedbackOf(stage: string, finished: FinishedStage, route: string | null): PipelineFeedback {
  if (finished.type === 'failed') {
    return { fromStage: stage, jobId: finished.jobId, outcome: 'failed', message: clip(finished.reason), detail: finished.error };
  }
  const said = isPlainJsonObject(finished.result) ? finished.result.feedback : undefined;
  const message =
    typeof said === 'string' && said.length > 0
      ? said
      : route !== null
        ? `stage "${stage}" chose "${route}"`
        : `stage "${stage}" completed`;
  return { fromStage: stage, jobId: finished.jobId, outcome: 'completed', message: clip(message), detail: finished.result ?? null };
}

/** A count kept under `name` in a stored document, or 0 (never an inherited property). */
function ownCount(counts: Record<string, number>, name: string): number {
  const value = Object.hasOwn(counts, name) ? counts[name] : undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function isChoice(value: StageTarget | StageChoice): value is StageChoice {
  return typeof value === 'object' && 'choose' in value;
}

/** Capped, and storable on both dialects: reasons and feedback are written as they are. */
function clip(text: string): string {
  return clipText(text, maxMessageChars);
}

function describe(value: unknown): string {
  try {
    return clipText(JSON.stringify(value) ?? String(value), 200);
  } catch {
    return typeof value;
  }
}

/** What `choose()` threw, read without letting a hostile value throw again. */
function thrownMessage(error: unknown): string {
  try {
    if (error instanceof Error && typeof error.message === 'string') return error.message;
  } catch {
    return 'an unreadable error';
  }
  return describe(error);
}
