// Audit: every operator action (console, API, CLI, library), newest first, with its filters in the
// URL's query string and keyset pages. The rows' table is shared with the Job page.
import { field, formatTime, h, replace, table } from '../dom.js';

// `limit` (rows per page) is kept in the URL too, though the form does not set it.
const filterNames = ['actor', 'subject', 'since', 'action', 'source', 'limit'];
const sources = ['api', 'cli', 'library'];
/** Longest value text shown for one side of a change; the API has the whole value. */
const maxValueText = 300;

export async function renderAudit(app, main) {
  const params = new URLSearchParams(location.search);
  const filter = {};
  for (const name of filterNames) if (params.get(name)) filter[name] = params.get(name);
  const results = h('div', { id: 'audit-results' });
  replace(main, h('h1', {}, 'Audit'), filterForm(app, filter), results);

  const refresh = async () => {
    const query = new URLSearchParams(filter);
    if (params.get('after')) query.set('after', params.get('after'));
    const page = await app.api(`/api/audit?${query}`);
    replace(results, auditTable(app, page.items, 'Operator actions, newest first', 'No operator action matches these filters.'), pager(app, filter, page.next, params.has('after')));
  };
  await refresh();
  return refresh;
}

function filterForm(app, filter) {
  const input = (name, label, placeholder) => field(label, h('input', { id: `a-${name}`, name, value: filter[name] ?? '', placeholder }));
  const source = h('select', { id: 'a-source', name: 'source' }, h('option', { value: '' }, 'any'), sources.map((s) => h('option', { value: s, selected: filter.source === s }, s)));
  return h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Audit filters',
      on: {
        submit: (event) => {
          event.preventDefault();
          const query = new URLSearchParams();
          for (const [name, value] of new FormData(event.target)) if (String(value).trim() !== '') query.set(name, String(value).trim());
          app.navigate(`/audit${query.size ? `?${query}` : ''}`);
        },
      },
    },
    input('actor', 'Actor', 'e.g. alice'),
    input('subject', 'Subject', 'job_01J…, run_01J…, namespace/key'),
    input('since', 'Since', '2026-12-01T00:00:00Z'),
    input('action', 'Action', 'e.g. job.retry,job.cancel'),
    field('Source', source),
    h('button', { type: 'submit' }, 'Filter'),
  );
}

function pager(app, filter, next, paged) {
  const links = [];
  if (paged) links.push(h('a', { href: app.href(`/audit?${new URLSearchParams(filter)}`), 'data-nav': true }, 'Newest'));
  if (next) links.push(h('a', { href: app.href(`/audit?${new URLSearchParams({ ...filter, after: next })}`), 'data-nav': true }, 'Older'));
  return links.length ? h('nav', { class: 'pager', 'aria-label': 'Pages of the audit log' }, links) : null;
}

/** The audit rows as a table: time, actor, source, action, subject (linked to its page), reason, what changed. */
export function auditTable(app, rows, caption, empty) {
  return table(
    caption,
    [
      { label: 'At', cell: (r) => formatTime(r.createdAt) },
      { label: 'Actor', cell: (r) => r.actor },
      { label: 'Source', cell: (r) => r.source },
      { label: 'Action', cell: (r) => r.action },
      { label: 'Subject', cell: (r) => subjectCell(app, r) },
      { label: 'Reason', cell: (r) => r.reason ?? '' },
      { label: 'Changed', cell: (r) => changesCell(r) },
    ],
    rows,
    empty,
  );
}

/** Where the subject's page is, if it has one. */
function subjectHref(app, type, id) {
  if (id === null || id === undefined) return null;
  switch (type) {
    case 'job':
      return app.href(`/jobs/${encodeURIComponent(id)}`);
    case 'run':
      return app.href(`/runs/${encodeURIComponent(id)}`);
    case 'pipeline':
      return app.href(`/pipelines/${encodeURIComponent(id)}`);
    case 'maintenance':
      return app.href('/maintenance');
    case 'replay':
      return app.href('/replays');
    case 'state': {
      // `namespace/key`: the namespace has no slash, the key may.
      const at = id.indexOf('/');
      if (at < 1) return null;
      return app.href(`/state/${encodeURIComponent(id.slice(0, at))}?key=${encodeURIComponent(id.slice(at + 1))}`);
    }
    default:
      return null;
  }
}

function subjectCell(app, row) {
  const label = row.subjectId ?? (row.count !== null ? `${row.count} job(s)` : row.subjectType);
  const href = subjectHref(app, row.subjectType, row.subjectId);
  const subject = href ? h('a', { href, 'data-nav': true }, label) : h('span', {}, label);
  return h('span', {}, h('span', { class: 'muted' }, `${row.subjectType} `), subject, row.bulkId ? h('span', { class: 'muted' }, ` (part of ${row.bulkId})`) : null);
}

function valueText(value) {
  const text = value === undefined ? '' : JSON.stringify(value);
  return text.length > maxValueText ? `${text.slice(0, maxValueText)}…` : text;
}

/** `{ field: { before, after } }` as one line per field: `status: "failed" → "pending"`. */
function changesCell(row) {
  const lines = [];
  if (row.changes && typeof row.changes === 'object' && !Array.isArray(row.changes)) {
    for (const [name, change] of Object.entries(row.changes)) {
      const isPair = change && typeof change === 'object' && ('before' in change || 'after' in change);
      lines.push(isPair ? `${name}: ${valueText(change.before)} → ${valueText(change.after)}` : `${name}: ${valueText(change)}`);
    }
  } else if (row.changes !== null && row.changes !== undefined) {
    lines.push(valueText(row.changes));
  }
  if (row.filter !== null && row.filter !== undefined) lines.push(`filter: ${valueText(row.filter)}`);
  if (row.count !== null && row.count !== undefined && row.subjectId !== null) lines.push(`count: ${row.count}`);
  if (!lines.length) return '';
  return h('ul', { class: 'diff' }, lines.map((line) => h('li', {}, h('code', {}, line))));
}
