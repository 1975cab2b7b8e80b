// State: namespaces, a namespace's keys with value and version, and one key's transitions (with what
// each changed), snapshots (with checksum) and, for operators, restoring a snapshot.
import { field, formatTime, h, json, replace, statusBadge, table } from '../dom.js';

export async function renderNamespaces(app, main) {
  const body = h('div', {});
  replace(main, h('h1', {}, 'State'), body);
  const refresh = async () => {
    const { items } = await app.api('/api/state?limit=500');
    replace(
      body,
      table('Namespaces', [{ label: 'Namespace', cell: (ns) => h('a', { href: app.href(`/state/${encodeURIComponent(ns)}`), 'data-nav': true }, ns) }], items, 'No state yet.'),
    );
  };
  await refresh();
  return refresh;
}

export async function renderNamespace(app, main, namespace) {
  const params = new URLSearchParams(location.search);
  const key = params.get('key');
  const prefix = params.get('prefix') ?? '';
  const keys = h('div', {});
  const entry = h('div', {});
  const prefixInput = h('input', { id: 'state-prefix', name: 'prefix', value: prefix });
  const filter = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Key filter',
      on: {
        submit: (event) => {
          event.preventDefault();
          const v = prefixInput.value.trim();
          app.navigate(`/state/${encodeURIComponent(namespace)}${v ? `?prefix=${encodeURIComponent(v)}` : ''}`);
        },
      },
    },
    field('Key prefix', prefixInput),
    h('button', { type: 'submit' }, 'Filter'),
  );
  replace(main, h('h1', {}, 'State ', h('code', {}, namespace)), h('p', {}, h('a', { href: app.href('/state'), 'data-nav': true }, 'All namespaces')), filter, entry, keys);
  const keyHref = (k) => app.href(`/state/${encodeURIComponent(namespace)}?key=${encodeURIComponent(k)}`);
  const restoreView = { ids: null };

  const refresh = async () => {
    const { items } = await app.api(`/api/state/${encodeURIComponent(namespace)}?limit=200&deleted=true${prefix ? `&prefix=${encodeURIComponent(prefix)}` : ''}`);
    replace(
      keys,
      table(
        'Keys, in order',
        [
          { label: 'Key', cell: (e) => h('a', { href: keyHref(e.key), 'data-nav': true }, e.key) },
          { label: 'Status', cell: (e) => (e.deletedAt ? statusBadge('deleted') : e.status) },
          { label: 'Version', cell: (e) => String(e.version) },
          { label: 'Value', cell: (e) => h('code', {}, clip(JSON.stringify(e.data))) },
          { label: 'Updated', cell: (e) => formatTime(e.updatedAt) },
        ],
        items,
        'No keys.',
      ),
    );
    if (key !== null) await showEntry(app, entry, namespace, key, restoreView, refresh);
  };
  await refresh();
  return refresh;
}

async function showEntry(app, el, namespace, key, restoreView, refresh) {
  const { entry, transitions, snapshots } = await app.api(`/api/state/${encodeURIComponent(namespace)}/entry?key=${encodeURIComponent(key)}`);
  const ids = snapshots.map((s) => s.id).join(',');
  // The restore form is rebuilt only when the snapshots change, so a refresh keeps what is typed.
  if (restoreView.ids !== ids) {
    restoreView.form = app.canAct && snapshots.length ? restoreForm(app, snapshots, refresh) : null;
    restoreView.ids = ids;
  }
  replace(
    el,
    h('h2', {}, 'Key ', h('code', {}, key)),
    h('p', {}, `Version ${entry.version}, status ${entry.status}`, entry.deletedAt ? `, deleted ${formatTime(entry.deletedAt)}` : '', `, updated ${formatTime(entry.updatedAt)}`),
    h('pre', { class: 'json', id: 'state-value' }, json(entry.data)),
    restoreView.form,
    h('h3', {}, 'Snapshots'),
    table(
      'Snapshots, newest first',
      [
        { label: 'Snapshot', cell: (s) => h('code', {}, s.id) },
        { label: 'Of version', cell: (s) => String(s.subjectVersion ?? '') },
        { label: 'Taken', cell: (s) => formatTime(s.createdAt) },
        { label: 'Description', cell: (s) => s.description ?? '' },
        { label: 'Checksum', cell: (s) => h('span', { class: s.intact ? '' : 'error' }, `${s.checksum.slice(0, 12)}… ${s.intact ? 'intact' : 'ALTERED'}`) },
      ],
      snapshots,
      'No snapshots of this key.',
    ),
    h('h3', {}, 'Transitions'),
    table(
      'Transitions, newest first',
      [
        { label: 'Version', cell: (t) => `${t.versionBefore ?? '–'} → ${t.versionAfter}` },
        { label: 'Change', cell: (t) => t.change },
        { label: 'What changed', cell: (t) => diffList(t.diff) },
        { label: 'Reason', cell: (t) => t.reason ?? '' },
        { label: 'Actor', cell: (t) => t.actor },
        { label: 'At', cell: (t) => formatTime(t.createdAt) },
      ],
      transitions,
    ),
  );
}

function diffList(diff) {
  if (!diff.changes.length) return h('span', { class: 'muted' }, 'no data change');
  return h(
    'ul',
    { class: 'diff' },
    diff.changes.map((c) =>
      h('li', { class: `d-${c.change}` }, h('code', {}, c.path), ' ', c.change === 'added' ? `+ ${clip(JSON.stringify(c.after))}` : c.change === 'removed' ? `− ${clip(JSON.stringify(c.before))}` : `${clip(JSON.stringify(c.before))} → ${clip(JSON.stringify(c.after))}`),
    ),
    diff.truncated ? h('li', { class: 'muted' }, 'and more') : null,
  );
}

function restoreForm(app, snapshots, refresh) {
  const select = h(
    'select',
    { id: 'restore-snapshot', name: 'snapshot' },
    snapshots.map((s) => h('option', { value: s.id }, `${s.id} (version ${s.subjectVersion ?? '?'}, ${formatTime(s.createdAt)})`)),
  );
  const reason = h('input', { id: 'restore-reason', name: 'reason', required: true, maxlength: 2000 });
  const message = h('p', { role: 'status', id: 'restore-outcome' });
  const submit = async (event) => {
    event.preventDefault();
    message.textContent = '';
    try {
      const { entry } = await app.api(`/api/snapshots/${encodeURIComponent(select.value)}/restore`, { method: 'POST', body: { reason: reason.value.trim() } });
      reason.value = '';
      message.textContent = `restored: now version ${entry.version}`;
      app.say(message.textContent);
      await refresh();
    } catch (error) {
      message.textContent = error.message;
    }
  };
  return h(
    'form',
    { class: 'actions', 'aria-label': 'Restore a snapshot', on: { submit } },
    field('Snapshot', select),
    field('Reason to restore (required)', reason),
    h('button', { type: 'submit', id: 'restore-button' }, 'Restore'),
    message,
  );
}

function clip(text) {
  return text === undefined ? '' : text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
