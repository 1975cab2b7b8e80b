// Replays: the named replays, newest first: who made them, why, how far each got. Each job a replay
// made links back to its original on the Job page.
import { formatTime, h, replace, statusBadge, table } from '../dom.js';

export async function renderReplays(app, main) {
  const body = h('div', {});
  replace(main, h('h1', {}, 'Replays'), body);
  const refresh = async () => {
    const { items } = await app.api('/api/replays?limit=100');
    replace(
      body,
      table(
        'Replays, newest first',
        [
          { label: 'Replay', cell: (r) => h('code', {}, r.id) },
          { label: 'Name', cell: (r) => r.name },
          { label: 'Reason', cell: (r) => r.reason },
          { label: 'Actor', cell: (r) => r.actor },
          { label: 'Status', cell: (r) => h('span', {}, statusBadge(r.status), r.statusReason ? ` ${r.statusReason}` : '') },
          { label: 'Jobs', cell: (r) => `${r.created} made of ${r.matched} matched` },
          { label: 'Started', cell: (r) => formatTime(r.createdAt) },
          { label: 'Audit', cell: (r) => h('a', { href: app.href(`/audit?subject=${encodeURIComponent(r.id)}`), 'data-nav': true, 'aria-label': `audit rows of ${r.id}` }, 'audit') },
        ],
        items,
        'No replays yet (jobledger replay makes them).',
      ),
    );
  };
  await refresh();
  return refresh;
}
