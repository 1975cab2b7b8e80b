/**
 * Pipelines: named stages, each running one job type, and where the pipeline goes when a stage's job
 * completes or fails: on to a later stage, back to an earlier one (a loop, spending a retry budget and
 * carrying feedback), or to a terminal state. Definitions are checked when defined; the job types they
 * name are checked when a JobLedger registers them.
 *
 * Going back is only possible through a `loopTo` with a budget, and plain moves only go forward (in the
 * order the stages are declared), so every pipeline ends: each backward edge spends a finite budget.
 */
import { z, type ZodType } from 'zod';
import { InvalidOptionError, InvalidPipelineError } from '../errors.js';
import type { PipelineFeedback } from '../store/index.js';
import type { JobRegistry } from './registry.js';

/** End the pipeline: `succeeded` or `failed`, in terminal state `state` (default: the status). */
export interface PipelineEnd {
  end: 'succeeded' | 'failed';
  /** The terminal state's name, e.g. `merged`. Default the status itself. */
  state?: string;
}

/** Go back to an earlier stage (or repeat this one), spending one loop of `budget`. */
export interface PipelineLoop {
  loopTo: string;
  budget: string;
}

/** A later stage's name, a loop back, or an end. */
export type StageTarget = string | PipelineEnd | PipelineLoop;

/**
 * A transition chosen by a pure function of what the stage returned: `choose(result)` names one of
 * `routes`. Every route is checked at define time; an unknown name at run time fails the pipeline.
 */
export interface StageChoice {
  choose(result: unknown): string;
  routes: Record<string, StageTarget>;
}

export interface StageDefinition {
  /** The job type this stage runs. Its schema must accept a `StagePayload` (see `stagePayloadSchema`). */
  job: string;
  on?: {
    /** Default: the next declared stage, or `{ end: 'succeeded' }` after the last one. */
    completed?: StageTarget | StageChoice;
    /** The stage's job failed (its attempts exhausted, or a permanent error). Default `{ end: 'failed' }`. */
    failed?: StageTarget;
  };
}

export interface PipelineOptions {
  /** Letters, digits, `_`, `.`, `-`, starting with a letter. */
  name: string;
  /** The stages, in order: a plain move may only go to a stage declared later. */
  stages: Record<string, StageDefinition>;
  /** The first stage. Default the first declared. */
  start?: string;
  /** Loop budgets and their default maximum number of loops; each instance may override them. Default none. */
  budgets?: Record<string, number>;
}

export interface PipelineDefinition {
  readonly name: string;
  readonly start: string;
  /** Stage names in declaration order. */
  readonly stageOrder: readonly string[];
  readonly stages: Readonly<Record<string, Readonly<StageDefinition>>>;
  readonly budgets: Readonly<Record<string, number>>;
}

/**
 * What a stage's job receives as its payload. `feedback` is set when the pipeline looped back into
 * this stage (the failure reason, or what the stage that sent it back returned), null otherwise.
 */
export interface StagePayload<Context = Record<string, unknown>> {
  pipelineId: string;
  pipeline: string;
  stage: string;
  /** 1 the first time the pipeline enters this stage, 2 the second time, ... */
  visit: number;
  context: Context;
  feedback: PipelineFeedback | null;
  /** Loops taken so far, per budget. */
  retries: Record<string, number>;
}

/** States a pipeline may end in besides the ones its definition names; no stage may use them. */
export const reservedStates = ['succeeded', 'failed', 'cancelled'] as const;

const namePattern = /^[A-Za-z][A-Za-z0-9_.-]{0,99}$/;
const maxBudget = 10_000;

export function definePipeline(options: PipelineOptions): PipelineDefinition {
  const name = options?.name;
  if (typeof name !== 'string' || !namePattern.test(name)) {
    throw new InvalidPipelineError(String(name), 'expected a name of letters, digits, "_", "." or "-" starting with a letter');
  }
  const fail = (detail: string): never => {
    throw new InvalidPipelineError(name, detail);
  };
  checkKeys(options as unknown as Record<string, unknown>, ['name', 'stages', 'start', 'budgets'], 'the definition', fail);
  if (!isPlainObject(options.stages) || Object.keys(options.stages).length === 0) fail('expected at least one stage in `stages`');
  const stageOrder = Object.keys(options.stages);
  const budgets = { ...(options.budgets ?? {}) };
  if (!isPlainObject(budgets)) fail('`budgets` must be an object of budget name to maximum loops');
  for (const [budget, max] of Object.entries(budgets)) {
    if (!namePattern.test(budget)) fail(`budget ${JSON.stringify(budget)}: expected a name of letters, digits, "_", "." or "-"`);
    if (!isBudgetValue(max)) fail(`budget "${budget}": expected a whole number of loops from 0 to ${maxBudget}, got ${JSON.stringify(max)}`);
  }
  const start = options.start ?? stageOrder[0]!;
  if (!stageOrder.includes(start)) fail(`start stage "${start}" is not one of the stages (${stageOrder.join(', ')})`);

  const usedBudgets = new Set<string>();
  const terminalStates = new Set<string>();
  const checkTarget = (from: string, index: number, target: unknown, where: string): void => {
    if (typeof target === 'string') {
      const to = stageOrder.indexOf(target);
      if (to === -1) fail(`${where}: unknown stage "${target}" (stages: ${stageOrder.join(', ')})`);
      if (to <= index) fail(`${where}: "${target}" is not after "${from}"; going back needs { loopTo: "${target}", budget: ... }`);
      return;
    }
    if (!isPlainObject(target)) fail(`${where}: expected a stage name, { loopTo, budget } or { end }, got ${JSON.stringify(target)}`);
    const t = target as Record<string, unknown>;
    if ('loopTo' in t) {
      checkKeys(t, ['loopTo', 'budget'], where, fail);
      const to = typeof t.loopTo === 'string' ? stageOrder.indexOf(t.loopTo) : -1;
      if (to === -1) fail(`${where}: loopTo names unknown stage ${JSON.stringify(t.loopTo)} (stages: ${stageOrder.join(', ')})`);
      if (to > index) fail(`${where}: loopTo "${String(t.loopTo)}" is a later stage than "${from}"; a loop goes back (a plain stage name goes forward)`);
      if (typeof t.budget !== 'string' || !Object.hasOwn(budgets, t.budget)) {
        fail(`${where}: loop budget ${JSON.stringify(t.budget)} is not declared in \`budgets\` (${Object.keys(budgets).join(', ') || 'none'})`);
      }
      usedBudgets.add(t.budget as string);
      return;
    }
    if ('end' in t) {
      checkKeys(t, ['end', 'state'], where, fail);
      if (t.end !== 'succeeded' && t.end !== 'failed') fail(`${where}: end must be "succeeded" or "failed", got ${JSON.stringify(t.end)}`);
      const state = t.state ?? t.end;
      if (typeof state !== 'string' || !namePattern.test(state)) fail(`${where}: end state ${JSON.stringify(state)} is not a valid name`);
      if (stageOrder.includes(state as string)) fail(`${where}: end state "${String(state)}" is also a stage name`);
      if (state === 'cancelled') fail(`${where}: end state "cancelled" is reserved for cancelled stage jobs`);
      terminalStates.add(state as string);
      return;
    }
    fail(`${where}: expected a stage name, { loopTo, budget } or { end }, got ${JSON.stringify(target)}`);
  };

  const stages: Record<string, StageDefinition> = {};
  stageOrder.forEach((stage, index) => {
    const def = options.stages[stage] as unknown;
    if (!namePattern.test(stage)) fail(`stage ${JSON.stringify(stage)}: expected a name of letters, digits, "_", "." or "-"`);
    if ((reservedStates as readonly string[]).includes(stage)) fail(`stage "${stage}": the name is reserved for a terminal state`);
    if (!isPlainObject(def)) fail(`stage "${stage}": expected { job, on }`);
    const d = def as Record<string, unknown>;
    checkKeys(d, ['job', 'on'], `stage "${stage}"`, fail);
    if (typeof d.job !== 'string' || d.job.length === 0) fail(`stage "${stage}": expected \`job\` to name a job type, got ${JSON.stringify(d.job)}`);
    const on = (d.on ?? {}) as Record<string, unknown>;
    if (!isPlainObject(on)) fail(`stage "${stage}": \`on\` must be an object`);
    checkKeys(on, ['completed', 'failed'], `stage "${stage}".on`, fail);
    const next = stageOrder[index + 1];
    const completed = (on.completed ?? next ?? { end: 'succeeded' }) as StageTarget | StageChoice;
    const failed = (on.failed ?? { end: 'failed' }) as StageTarget;
    if (isPlainObject(completed) && 'choose' in completed) {
      const c = completed as unknown as Record<string, unknown>;
      checkKeys(c, ['choose', 'routes'], `stage "${stage}".on.completed`, fail);
      if (typeof c.choose !== 'function') fail(`stage "${stage}".on.completed.choose: expected a function of the stage's result`);
      if (!isPlainObject(c.routes) || Object.keys(c.routes).length === 0) fail(`stage "${stage}".on.completed.routes: expected at least one route`);
      for (const [route, target] of Object.entries(c.routes as Record<string, unknown>)) {
        checkTarget(stage, index, target, `stage "${stage}".on.completed.routes.${route}`);
      }
    } else {
      checkTarget(stage, index, completed, `stage "${stage}".on.completed`);
    }
    checkTarget(stage, index, failed, `stage "${stage}".on.failed`);
    stages[stage] = Object.freeze({ job: d.job as string, on: Object.freeze({ completed, failed }) });
  });
  for (const budget of Object.keys(budgets)) {
    if (!usedBudgets.has(budget)) fail(`budget "${budget}" is used by no loop`);
  }
  for (const state of terminalStates) {
    if (stageOrder.includes(state)) fail(`end state "${state}" is also a stage name`);
  }

  return Object.freeze({ name, start, stageOrder: Object.freeze(stageOrder), stages: Object.freeze(stages), budgets: Object.freeze(budgets) });
}

/** Registration-time check: every stage's job type is one the registry knows. */
export function checkPipelineJobs(definition: PipelineDefinition, registry: JobRegistry): void {
  for (const stage of definition.stageOrder) {
    const job = definition.stages[stage]!.job;
    if (!registry.has(job)) {
      throw new InvalidPipelineError(
        definition.name,
        `stage "${stage}" runs job type "${job}", which is not registered (registered: ${registry.names().join(', ') || 'none'})`,
      );
    }
  }
}

/** Checks a set of definitions against a registry: known job types, no name defined twice. */
export function registerPipelines(definitions: readonly PipelineDefinition[], registry: JobRegistry): Map<string, PipelineDefinition> {
  const byName = new Map<string, PipelineDefinition>();
  for (const definition of definitions) {
    if (byName.has(definition.name)) throw new InvalidPipelineError(definition.name, 'defined twice');
    checkPipelineJobs(definition, registry);
    byName.set(definition.name, definition);
  }
  return byName;
}

/**
 * Validates per-instance budget overrides and merges them over the definition's defaults. Names are
 * looked up as own properties only: `constructor`, `toString` or `__proto__` name no budget.
 */
export function resolveBudgets(definition: PipelineDefinition, overrides: unknown): Record<string, number> {
  const budgets = { ...definition.budgets };
  if (overrides === undefined) return budgets;
  if (!isPlainObject(overrides)) throw new InvalidOptionError('budgets', 'an object of budget name to maximum loops', overrides);
  for (const [budget, max] of Object.entries(overrides)) {
    if (!Object.hasOwn(definition.budgets, budget)) {
      throw new InvalidOptionError(`budgets.${budget}`, `a budget of pipeline "${definition.name}" (${Object.keys(budgets).join(', ') || 'it has none'})`, budget);
    }
    if (!isBudgetValue(max)) throw new InvalidOptionError(`budgets.${budget}`, `a whole number of loops from 0 to ${maxBudget}`, max);
    budgets[budget] = max;
  }
  return budgets;
}

const feedbackSchema = z.object({
  fromStage: z.string(),
  jobId: z.string(),
  outcome: z.enum(['completed', 'failed', 'cancelled']),
  message: z.string(),
  detail: z.unknown(),
});

/**
 * A zod schema for a stage job's payload, with `context` checked by `context` (default: any JSON
 * object). Use it as a stage job type's schema: `defineJob({ schema: stagePayloadSchema(), ... })`.
 */
export function stagePayloadSchema<Context extends Record<string, unknown> = Record<string, unknown>>(
  context?: ZodType<Context>,
): ZodType<StagePayload<Context>> {
  return z.object({
    pipelineId: z.string(),
    pipeline: z.string(),
    stage: z.string(),
    visit: z.number().int().min(1),
    context: context ?? z.record(z.string(), z.unknown()),
    feedback: feedbackSchema.nullable(),
    retries: z.record(z.string(), z.number().int().min(0)),
  }) as unknown as ZodType<StagePayload<Context>>;
}

function checkKeys(value: Record<string, unknown>, allowed: readonly string[], where: string, fail: (detail: string) => never): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${where}: unknown key "${key}" (expected ${allowed.join(', ')})`);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isBudgetValue(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= maxBudget;
}

export { isPlainObject as isPlainJsonObject };
