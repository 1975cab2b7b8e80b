// Runs: the list, and one run with its jobs by status, figures and metadata.
import { formatTime, h, json, replace, statusBadge, table } from '../dom.js';

export async function renderRuns(app, main) {
  const body = h('div', {});
  replace(main, h('h1', {}, 'Runs'), body);
  const refresh = async () => {
    const { items } = await app.api('/api/runs?limit=100');
    replace(
      body,
      table(
        'Runs, newest first',
        [
          { label: 'Run', cell: (r) => h('a', { href: app.href(`/runs/${r.id}`), 'data-nav': true }, r.id) },
          { label: 'Name', cell: (r) => r.name },
          { label: 'Status', cell: (r) => statusBadge(r.status) },
          { label: 'Reason', cell: (r) => r.statusReason ?? '' },
          { label: 'Created', cell: (r) => formatTime(r.createdAt) },
          { label: 'Finished', cell: (r) => formatTime(r.finishedAt) },
        ],
        items,
        'No runs yet.',
      ),
    );
  };
  await refresh();
  return refresh;
}

export async function renderRun(app, main, id) {
  const body = h('div', {});
  replace(main, h('h1', {}, 'Run ', h('code', {}, id)), body);
  const refresh = async () => {
    const { run, jobsByStatus, figures } = await app.api(`/api/runs/${encodeURIComponent(id)}`);
    replace(
      body,
      h('p', {}, run.name, ' ', statusBadge(run.status), run.statusReason ? ` ${run.statusReason}` : ''),
      h(
        'ul',
        { class: 'cards' },
        Object.entries(jobsByStatus).map(([status, n]) =>
          h('li', { class: 'card' }, h('a', { href: app.href(`/jobs?run=${run.id}&status=${status}`), 'data-nav': true }, statusBadge(status), h('span', { class: 'count' }, n))),
        ),
      ),
      h('p', {}, `Events: ${figures.events}; first job ${formatTime(figures.firstCreatedAt)}; last finished ${formatTime(figures.lastFinishedAt)}`),
      h('p', {}, h('a', { href: app.href(`/audit?subject=${encodeURIComponent(run.id)}`), 'data-nav': true }, 'Operator actions on this run (Audit page)')),
      h('h2', {}, 'Metadata'),
      h('pre', { class: 'json' }, json(run.metadata)),
    );
  };
  await refresh();
  return refresh;
}
