/**
 * A pipeline's stages as a graph for the console's Pipeline page: each stage with its visits and
 * jobs, and each transition with how often this pipeline took it. A loop (a transition back to an
 * earlier stage, or to the same one) also says which budget it spends, how many loops of it were
 * taken and how many are left.
 *
 * The transitions come from two places: the pipeline's definition, when this process registers it
 * (so stages and loops not taken yet are drawn too), and the path the pipeline took, which the
 * ledger always has (a console started without the application's definitions still draws every
 * stage visited and every transition taken).
 */
import type { PipelineDefinition, StageTarget } from '../jobs/define-pipeline.js';
import type { PipelineDetail } from '../store/index.js';

/** What made a transition: the stage's job completing or failing, or an operator cancelling it. */
export type EdgeTrigger = 'completed' | 'failed' | 'cancelled';

export interface GraphStage {
  stage: string;
  /** Its position in declaration order (or, without a definition, in order of first visit). */
  index: number;
  visits: number;
  /** This pipeline is running with this stage as its current one. */
  current: boolean;
  /** Each visit's job, in order. */
  jobs: { jobId: string; visit: number; outcome: string }[];
}

export interface GraphEdge {
  from: string;
  /** A stage, or a terminal state (`to` is not among the stages: `end` is set). */
  to: string;
  on: EdgeTrigger;
  /** `next`: forward to a later stage; `loop`: back to an earlier stage or the same one; `end`: to a terminal state. */
  kind: 'next' | 'loop' | 'end';
  /** The `choose` route that names it, when the definition has one. */
  route: string | null;
  /** How many times this pipeline took it. */
  taken: number;
  /** For an `end`: the status it ends with, when the definition says. */
  end: 'succeeded' | 'failed' | null;
  /** For a loop the definition declares: its budget, with the loops taken of it and left (never below 0). */
  budget: { name: string; max: number; used: number; left: number } | null;
}

export interface PipelineGraph {
  /** Whether this console registers the pipeline's definition (else the graph is what the path shows). */
  fromDefinition: boolean;
  stages: GraphStage[];
  /** Terminal states the edges lead to. */
  ends: string[];
  edges: GraphEdge[];
  loopsTaken: number;
  budgets: { name: string; max: number; used: number; left: number }[];
}

export function pipelineGraph(detail: PipelineDetail, definition: PipelineDefinition | undefined): PipelineGraph {
  const { pipeline } = detail;
  const order: string[] = definition ? [...definition.stageOrder] : [];
  for (const visit of detail.stages) if (!order.includes(visit.stage)) order.push(visit.stage);

  const budgetOf = (name: string) => {
    const max = pipeline.budgets[name] ?? definition?.budgets[name] ?? 0;
    const used = pipeline.retries[name] ?? 0;
    return { name, max, used, left: Math.max(0, max - used) };
  };

  const stages: GraphStage[] = order.map((stage, index) => ({ stage, index, visits: 0, current: false, jobs: [] }));
  const byName = new Map(stages.map((s) => [s.stage, s]));
  for (const visit of detail.stages) {
    const stage = byName.get(visit.stage)!;
    stage.visits += 1;
    stage.jobs.push({ jobId: visit.jobId, visit: stage.visits, outcome: visit.outcome });
    if (visit.outcome === 'running' && pipeline.status === 'running') stage.current = true;
  }

  const edges: GraphEdge[] = [];
  const ends = new Set<string>();
  const edgeKey = (from: string, to: string, on: EdgeTrigger) => `${from}\u0000${to}\u0000${on}`;
  const byKey = new Map<string, GraphEdge>();
  const addEdge = (from: string, to: string, on: EdgeTrigger, extra: Partial<GraphEdge> = {}): GraphEdge => {
    const key = edgeKey(from, to, on);
    const existing = byKey.get(key);
    if (existing) return existing;
    const toStage = byName.get(to);
    const fromIndex = byName.get(from)!.index;
    const kind: GraphEdge['kind'] = !toStage ? 'end' : toStage.index <= fromIndex ? 'loop' : 'next';
    if (kind === 'end') ends.add(to);
    const edge: GraphEdge = { from, to, on, kind, route: null, taken: 0, end: null, budget: null, ...extra };
    byKey.set(key, edge);
    edges.push(edge);
    return edge;
  };

  if (definition) {
    const declare = (from: string, on: EdgeTrigger, target: StageTarget, route: string | null) => {
      if (typeof target === 'string') addEdge(from, target, on, { route });
      else if ('loopTo' in target) addEdge(from, target.loopTo, on, { route, budget: budgetOf(target.budget) });
      else addEdge(from, target.state ?? target.end, on, { route, end: target.end });
    };
    for (const stage of definition.stageOrder) {
      const on = definition.stages[stage]!.on ?? {};
      const completed = on.completed;
      if (completed && typeof completed === 'object' && 'choose' in completed) {
        for (const [route, target] of Object.entries(completed.routes)) declare(stage, 'completed', target, route);
      } else if (completed !== undefined) {
        declare(stage, 'completed', completed, null);
      }
      if (on.failed !== undefined) declare(stage, 'failed', on.failed, null);
    }
  }

  // What the pipeline did: every finished visit went somewhere (a stage or a terminal state).
  for (const visit of detail.stages) {
    if (visit.next === null || visit.outcome === 'running') continue;
    const edge = addEdge(visit.stage, visit.next, visit.outcome, visit.route !== null ? { route: visit.route } : {});
    edge.taken += 1;
  }

  return {
    fromDefinition: definition !== undefined,
    stages,
    ends: [...ends],
    edges,
    loopsTaken: pipeline.loops,
    budgets: Object.keys(pipeline.budgets).sort().map(budgetOf),
  };
}
