// Pipelines: live or archived, and one pipeline's stages (as a graph and in order) with their jobs,
// budgets and events.
import { formatTime, h, json, reasonForm, replace, statusBadge, table } from '../dom.js';
import { stageGraph } from './pipeline-graph.js';

export async function renderPipelines(app, main) {
  const archived = new URLSearchParams(location.search).get('archived') === 'true';
  const body = h('div', {});
  const toggle = h(
    'p',
    {},
    archived
      ? h('a', { href: app.href('/pipelines'), 'data-nav': true }, 'Show live pipelines')
      : h('a', { href: app.href('/pipelines?archived=true'), 'data-nav': true }, 'Show archived pipelines'),
  );
  replace(main, h('h1', {}, archived ? 'Archived pipelines' : 'Pipelines'), toggle, body);
  const refresh = async () => {
    const { items } = await app.api(`/api/pipelines?limit=100${archived ? '&archived=true' : ''}`);
    replace(
      body,
      table(
        archived ? 'Archived pipelines, most recently completed first' : 'Live pipelines, newest first',
        [
          { label: 'Pipeline', cell: (p) => h('a', { href: app.href(`/pipelines/${p.id}`), 'data-nav': true }, p.id) },
          { label: 'Name', cell: (p) => p.name },
          { label: 'State', cell: (p) => p.state ?? p.finalState ?? '' },
          { label: 'Status', cell: (p) => statusBadge(p.status) },
          { label: 'Loops', cell: (p) => String(p.loops ?? '') },
          { label: 'Created', cell: (p) => formatTime(p.createdAt) },
        ],
        items,
        'No pipelines.',
      ),
    );
  };
  await refresh();
  return refresh;
}

export async function renderPipeline(app, main, id) {
  const body = h('div', {});
  const actions = h('div', {});
  replace(main, h('h1', {}, 'Pipeline ', h('code', {}, id)), actions, body);
  let shown = null;
  const refresh = async () => {
    const { pipeline, stages, events, graph } = await app.api(`/api/pipelines/${encodeURIComponent(id)}`);
    const can = pipeline.archived ? null : pipeline.status === 'running' ? 'cancel' : pipeline.status === 'failed' ? 'retry' : null;
    // Rebuilt only when the action changes, so a refresh never wipes a reason being typed.
    if (app.canAct && can !== shown) replace(actions, can ? actionForm(app, id, can, refresh) : null);
    shown = can;
    const budgets = Object.entries(pipeline.budgets ?? {}).map(([name, max]) => `${name}: ${(pipeline.retries ?? {})[name] ?? 0} of ${max} loops used`);
    const visits = new Map();
    for (const s of stages) visits.set(s.stage, (visits.get(s.stage) ?? 0) + 1);
    replace(
      body,
      h('p', { id: 'pipeline-status' }, pipeline.name, ' ', statusBadge(pipeline.status), ` ${pipeline.state ?? ''}`, pipeline.statusReason ? ` — ${pipeline.statusReason}` : ''),
      h('p', {}, `Loops taken: ${pipeline.loops ?? 0}`, budgets.length ? `. Budgets: ${budgets.join('; ')}` : ''),
      h('p', { id: 'stage-visits' }, 'Visits: ', [...visits].map(([stage, n]) => `${stage} ×${n}`).join(', ')),
      stageGraph(app, graph),
      h('h2', {}, 'Stage visits'),
      table(
        'Stages, in order',
        [
          { label: 'Stage', cell: (s) => s.stage },
          { label: 'Outcome', cell: (s) => statusBadge(s.outcome) },
          { label: 'Job', cell: (s) => h('a', { href: app.href(`/jobs/${s.jobId}`), 'data-nav': true }, s.jobId) },
          { label: 'Attempts', cell: (s) => String(s.attempts.length) },
          { label: 'Next', cell: (s) => s.next ?? '' },
          { label: 'At', cell: (s) => formatTime(s.at) },
        ],
        stages,
      ),
      h('p', {}, h('a', { href: app.href(`/audit?subject=${encodeURIComponent(id)}`), 'data-nav': true }, 'Operator actions on this pipeline (Audit page)')),
      h('h2', {}, 'Context'),
      h('pre', { class: 'json' }, json(pipeline.context)),
      h('h2', {}, 'Events'),
      table(
        'Event log',
        [
          { label: 'Seq', cell: (e) => String(e.seq) },
          { label: 'Type', cell: (e) => e.type },
          { label: 'At', cell: (e) => formatTime(e.createdAt) },
          { label: 'Actor', cell: (e) => e.actor ?? '' },
        ],
        events,
      ),
    );
  };
  await refresh();
  return refresh;
}

function actionForm(app, id, can, refresh) {
  return reasonForm({
    label: 'Pipeline actions',
    id: `pipeline-${can}`,
    button: can === 'cancel' ? 'Cancel pipeline' : 'Retry pipeline',
    submit: async (reason) => {
      const r = await app.api(`/api/pipelines/${encodeURIComponent(id)}/${can}`, { method: 'POST', body: { reason } });
      const text = `${can}: ${r.previousStatus} → ${r.status} (${r.state}); ${r.jobs.length} stage job(s) ${can === 'cancel' ? 'cancelled' : 'started'}`;
      // The refresh replaces this form (the action changed): the status line keeps the answer.
      app.say(text);
      await refresh();
      return text;
    },
  });
}
