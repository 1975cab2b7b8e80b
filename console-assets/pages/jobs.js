// Jobs: filters kept in the URL's query string, keyset pages, and bulk retry/cancel for operators.
import { field, formatTime, h, replace, statusBadge, table } from '../dom.js';

const statuses = ['pending', 'queued', 'delayed', 'running', 'completed', 'failed', 'cancelled'];
const filterNames = ['status', 'name', 'queue', 'run', 'since', 'until', 'error', 'q'];

export async function renderJobs(app, main) {
  const params = new URLSearchParams(location.search);
  const filter = {};
  for (const name of filterNames) if (params.get(name)) filter[name] = params.get(name);

  const form = filterForm(app, filter);
  const results = h('div', { id: 'job-results' });
  replace(main, h('h1', {}, 'Jobs'), form, app.canAct ? bulkBar(app, filter, () => selected(results), () => refresh()) : null, results);

  const refresh = async () => {
    const query = new URLSearchParams(filter);
    if (params.get('before')) query.set('before', params.get('before'));
    const page = await app.api(`/api/jobs?${query}`);
    const keep = new Set(selected(results));
    // A partial page stopped after reading its share of jobs (status, error and payload filters):
    // "Older" continues the search.
    const partial = page.partial ? h('p', { class: 'partial' }, `${page.items.length} found among the jobs searched so far; Older searches further back.`) : null;
    replace(results, jobTable(app, page.items, keep), partial, pager(app, filter, page.next, params.has('before')));
  };
  await refresh();
  return refresh;
}

function filterForm(app, filter) {
  const status = h('select', { id: 'f-status', name: 'status' }, h('option', { value: '' }, 'any'), statuses.map((s) => h('option', { value: s, selected: filter.status === s }, s)));
  const input = (name, label, placeholder) => field(label, h('input', { id: `f-${name}`, name, value: filter[name] ?? '', placeholder }));
  return h(
    'form',
    {
      class: 'filters',
      role: 'search',
      on: {
        submit: (event) => {
          event.preventDefault();
          const query = new URLSearchParams();
          for (const [name, value] of new FormData(event.target)) if (String(value).trim() !== '') query.set(name, String(value).trim());
          app.navigate(`/jobs${query.size ? `?${query}` : ''}`);
        },
      },
    },
    field('Status', status),
    input('name', 'Job type', 'e.g. email.send'),
    input('queue', 'Queue', ''),
    input('run', 'Run', 'run_01J…'),
    input('since', 'Created since', '2026-12-01T00:00:00Z'),
    input('until', 'Created before', ''),
    input('error', 'Error text', 'e.g. ECONNREFUSED'),
    input('q', 'Payload', 'payload.customer.plan=pro'),
    h('button', { type: 'submit' }, 'Filter'),
  );
}

function jobTable(app, jobs, keep) {
  const columns = [
    ...(app.canAct
      ? [{ label: 'Select', cell: (j) => h('input', { type: 'checkbox', class: 'pick', value: j.id, checked: keep.has(j.id), 'aria-label': `select ${j.id}` }) }]
      : []),
    { label: 'Job', cell: (j) => h('a', { href: app.href(`/jobs/${j.id}`), 'data-nav': true }, j.id) },
    { label: 'Type', cell: (j) => j.name },
    { label: 'Queue', cell: (j) => j.queue },
    { label: 'Status', cell: (j) => statusBadge(j.status) },
    { label: 'Attempts', cell: (j) => `${j.attemptsStarted}/${j.maxAttempts}` },
    { label: 'Created', cell: (j) => formatTime(j.createdAt) },
    { label: 'Finished', cell: (j) => formatTime(j.finishedAt) },
    { label: 'Reason or error', cell: (j) => j.statusReason ?? j.error ?? '' },
  ];
  return table('Jobs, newest first', columns, jobs, 'No job matches these filters.');
}

function pager(app, filter, next, paged) {
  const links = [];
  if (paged) links.push(h('a', { href: app.href(`/jobs?${new URLSearchParams(filter)}`), 'data-nav': true }, 'Newest'));
  if (next) links.push(h('a', { href: app.href(`/jobs?${new URLSearchParams({ ...filter, before: next })}`), 'data-nav': true }, 'Older'));
  return links.length ? h('nav', { class: 'pager', 'aria-label': 'Pages of jobs' }, links) : null;
}

function selected(results) {
  return [...results.querySelectorAll('input.pick:checked')].map((box) => box.value);
}

function bulkBar(app, filter, pickedIds, reload) {
  const action = h('select', { id: 'bulk-action', name: 'action' }, h('option', { value: 'retry' }, 'Retry'), h('option', { value: 'cancel' }, 'Cancel'));
  const scope = h('select', { id: 'bulk-scope', name: 'scope' }, h('option', { value: 'selected' }, 'the selected jobs'), h('option', { value: 'filter' }, 'all jobs matching this filter'));
  const reason = h('input', { id: 'bulk-reason', name: 'reason', required: true, maxlength: 2000 });
  const outcome = h('p', { id: 'bulk-outcome', role: 'status' });
  return h(
    'form',
    {
      class: 'bulk',
      'aria-label': 'Bulk action',
      on: {
        submit: async (event) => {
          event.preventDefault();
          const body = { action: action.value, reason: reason.value.trim() };
          if (scope.value === 'filter') body.filter = filter;
          else {
            body.ids = pickedIds();
            if (!body.ids.length) return void (outcome.textContent = 'Select jobs first, or choose "all jobs matching this filter".');
          }
          outcome.textContent = 'Working…';
          try {
            const r = await app.api('/api/jobs/bulk', { method: 'POST', body });
            outcome.textContent = `${r.action}: ${r.affected} affected, ${r.skipped} skipped of ${r.matched} matched${r.truncated ? ' (more match: run it again)' : ''}.`;
            reason.value = '';
            app.say(outcome.textContent);
            await reload();
          } catch (error) {
            outcome.textContent = error.message;
          }
        },
      },
    },
    field('Action', action),
    field('Apply to', scope),
    field('Reason (required)', reason),
    h('button', { type: 'submit' }, 'Apply'),
    outcome,
  );
}
