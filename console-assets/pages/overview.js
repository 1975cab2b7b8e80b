// Overview: jobs by status and queue, activity charts, attempts past their lock, the relay's backlog.
import { formatTime, h, replace, statusBadge, table } from '../dom.js';
import { lineChart } from '../chart.js';

const series = [
  { key: 'completed', label: 'completed', className: 'c-ok' },
  { key: 'failed', label: 'attempts failed', className: 'c-bad' },
  { key: 'retried', label: 'retries', className: 'c-warn' },
];
const clock = (at) => new Date(at).toISOString().slice(11, 16);

const statuses = ['pending', 'queued', 'delayed', 'running', 'completed', 'failed', 'cancelled'];

export async function renderOverview(app, main) {
  const body = h('div', {});
  replace(main, h('h1', {}, 'Overview'), body);
  const refresh = async () => {
    const [o, activity] = await Promise.all([app.api('/api/overview'), app.api('/api/overview/activity')]);
    replace(
      body,
      h(
        'section',
        { 'aria-label': 'Jobs by status' },
        h(
          'ul',
          { class: 'cards' },
          statuses.map((s) =>
            h('li', { class: 'card' }, h('a', { href: app.href(`/jobs?status=${s}`), 'data-nav': true }, statusBadge(s), h('span', { class: 'count', 'data-status': s }, o.jobs.byStatus[s] ?? 0))),
          ),
        ),
      ),
      h(
        'section',
        { 'aria-label': 'Health' },
        h(
          'ul',
          { class: 'cards' },
          h('li', { class: 'card' }, h('span', {}, 'Attempts past their lock'), h('span', { class: o.attemptsPastLock ? 'count warn' : 'count' }, o.attemptsPastLock)),
          h('li', { class: 'card' }, h('span', {}, 'Relay backlog'), h('span', { class: o.relayBacklog ? 'count warn' : 'count' }, o.relayBacklog)),
        ),
      ),
      h(
        'section',
        { 'aria-label': 'Activity', class: 'charts' },
        lineChart('Per minute, last hour', activity.perMinute, series, clock),
        lineChart('Per hour, last day', activity.perHour, series, clock),
      ),
      table(
        'Jobs by queue',
        [
          { label: 'Queue', cell: (q) => h('a', { href: app.href(`/jobs?queue=${encodeURIComponent(q.queue)}`), 'data-nav': true }, q.queue) },
          ...statuses.map((s) => ({ label: s, cell: (q) => String(q.byStatus[s] ?? 0) })),
          { label: 'Oldest waiting since', cell: (q) => formatTime(q.oldestDueAt) },
        ],
        o.jobs.byQueue,
        'No jobs yet.',
      ),
      h('p', { class: 'muted' }, `As of ${formatTime(o.at)}; refreshes every few seconds while this tab is visible.`),
    );
  };
  await refresh();
  return refresh;
}
