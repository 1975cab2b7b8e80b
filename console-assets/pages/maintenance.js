// Maintenance: each task's schedule and next tick, its latest ticks (outcome, counts, duration) and missed ticks.
import { formatDuration, formatTime, h, replace, statusBadge, table } from '../dom.js';

export async function renderMaintenance(app, main) {
  const body = h('div', {});
  replace(main, h('h1', {}, 'Maintenance'), body);
  const refresh = async () => {
    const { tasks } = await app.api('/api/maintenance?ticks=10');
    replace(
      body,
      table(
        'Tasks',
        [
          { label: 'Task', cell: (t) => h('a', { href: `#task-${t.task}` }, t.task) },
          { label: 'Schedule', cell: (t) => (t.schedule ? `${t.schedule} (${t.timezone})` : t.known === false ? "another process's" : 'not scheduled') },
          { label: 'Next tick', cell: (t) => formatTime(t.nextRunAt) },
          { label: 'Last tick', cell: (t) => (t.lastRun ? [statusBadge(t.lastRun.status), ` ${formatTime(t.lastRun.tick)}`] : 'never') },
          { label: 'Missed (24 h)', cell: (t) => h('span', { class: t.missedLastDay ? 'warn' : '', 'data-missed': t.task }, String(t.missedLastDay)) },
        ],
        tasks,
        'No maintenance tasks.',
      ),
      tasks.map((t) =>
        h(
          'section',
          { id: `task-${t.task}`, 'aria-label': `Task ${t.task}` },
          h('h2', {}, t.task),
          h('p', { class: 'muted' }, t.description, t.onMissed ? ` (missed ticks: ${t.onMissed})` : ''),
          table(
            `Latest ticks of ${t.task}, newest first`,
            [
              { label: 'Tick', cell: (r) => formatTime(r.tick) },
              { label: 'Outcome', cell: (r) => statusBadge(r.status) },
              { label: 'By', cell: (r) => `${r.triggeredBy}${r.claimedBy ? `, ${r.claimedBy}` : ''}` },
              { label: 'Duration', cell: (r) => formatDuration(r.durationMs) },
              { label: 'Counts', cell: (r) => countsText(r.counts) },
              { label: 'Error', cell: (r) => (r.error ? h('span', { class: 'error' }, r.error.message ?? JSON.stringify(r.error)) : '') },
            ],
            t.runs,
            'No ticks recorded yet.',
          ),
        ),
      ),
      h('p', { class: 'muted' }, 'Workers run maintenance; the console only shows it.'),
    );
  };
  await refresh();
  return refresh;
}

function countsText(counts) {
  if (!counts) return '';
  return Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join(', ');
}
