// One job: status and reason, lineage and operator actions, payload, result, the attempt timeline,
// the event log, and actions. A job in the cold archive (the answer names its segment in
// `archivedIn`) is shown read-only, marked archived, without actions.
import { field, formatDuration, formatTime, h, json, replace, statusBadge, table } from '../dom.js';
import { lineageSection, operatorActionsSection } from './lineage.js';

const retryable = ['failed', 'cancelled'];
const cancellable = ['pending', 'queued', 'delayed', 'running'];

export async function renderJob(app, main, id) {
  const body = h('div', {});
  const actions = h('div', {});
  replace(main, h('h1', {}, 'Job ', h('code', {}, id)), actions, body);
  let shownStatus = null;

  const refresh = async () => {
    const [{ job, attempts, events, archivedIn }, lineage] = await Promise.all([
      app.api(`/api/jobs/${encodeURIComponent(id)}`),
      app.api(`/api/jobs/${encodeURIComponent(id)}/lineage`),
    ]);
    const shown = archivedIn ? `archived:${archivedIn}` : job.status;
    if (archivedIn) replace(actions, archivedNotice(archivedIn));
    else if (app.canAct && shown !== shownStatus) replace(actions, actionForm(app, job, refresh));
    else if (shownStatus?.startsWith('archived:')) replace(actions);
    shownStatus = shown;
    replace(
      body,
      h(
        'dl',
        { class: 'facts' },
        fact('Status', h('span', {}, statusBadge(job.status), job.statusReason ? h('span', { class: 'reason' }, ` ${job.statusReason}`) : null)),
        archivedIn ? fact('Archived', h('span', { id: 'archived-in' }, 'in segment ', h('code', {}, archivedIn))) : null,
        fact('Type', job.name),
        fact('Queue', job.queue),
        fact('Attempts', `${job.attemptsStarted} started, ${job.attemptsFailed} failed in this budget, max ${job.maxAttempts}`),
        job.runId ? fact('Run', h('a', { href: app.href(`/runs/${job.runId}`), 'data-nav': true }, job.runId)) : null,
        job.pipelineId ? fact('Pipeline', h('a', { href: app.href(`/pipelines/${job.pipelineId}`), 'data-nav': true }, `${job.pipelineId} (${job.stage ?? ''})`)) : null,
        fact('Created', formatTime(job.createdAt)),
        fact('Started', formatTime(job.startedAt)),
        fact('Finished', formatTime(job.finishedAt)),
      ),
      lineageSection(app, lineage),
      h('h2', {}, 'Payload'),
      h('pre', { class: 'json', id: 'payload' }, json(job.payload)),
      h('h2', {}, 'Result'),
      h('pre', { class: 'json', id: 'result' }, json(job.result)),
      job.progress !== null ? [h('h2', {}, 'Progress'), h('pre', { class: 'json' }, json(job.progress))] : null,
      h('h2', {}, 'Attempts'),
      table(
        'Attempt timeline',
        [
          { label: '#', cell: (a) => String(a.number) },
          { label: 'Outcome', cell: (a) => statusBadge(a.status) },
          { label: 'Worker', cell: (a) => `${a.host ?? ''} pid ${a.pid ?? ''}` },
          { label: 'Started', cell: (a) => formatTime(a.startedAt) },
          { label: 'Ended', cell: (a) => formatTime(a.finishedAt) },
          { label: 'Duration', cell: (a) => formatDuration(a.durationMs) },
          { label: 'Error', cell: (a) => errorCell(a.error) },
        ],
        attempts,
        'No attempt yet.',
      ),
      h('h2', {}, 'Events'),
      table(
        'Event log',
        [
          { label: 'Seq', cell: (e) => String(e.seq) },
          { label: 'Type', cell: (e) => e.type },
          { label: 'At', cell: (e) => formatTime(e.createdAt) },
          { label: 'Actor', cell: (e) => e.actor ?? '' },
          { label: 'Details', cell: (e) => (e.payload === null ? '' : h('code', {}, JSON.stringify(e.payload))) },
        ],
        events,
      ),
      operatorActionsSection(app, lineage),
    );
  };
  await refresh();
  return refresh;
}

// What an archived job's page says instead of offering actions: where it is and how to bring it back.
function archivedNotice(segmentId) {
  return h(
    'p',
    { class: 'muted', id: 'archived-notice', role: 'note' },
    'This job is in the cold archive (segment ',
    h('code', {}, segmentId),
    '), shown read-only from its checksummed segment. ',
    h('code', {}, `jobledger archive restore ${segmentId}`),
    ' brings it back into the ledger.',
  );
}

function fact(label, value) {
  return [h('dt', {}, label), h('dd', {}, value)];
}

function errorCell(error) {
  if (!error) return '';
  const message = `${error.name ?? 'Error'}: ${error.message ?? ''}`;
  return error.stack ? h('details', {}, h('summary', {}, message), h('pre', {}, error.stack)) : message;
}

function actionForm(app, job, refresh) {
  const can = retryable.includes(job.status) ? 'retry' : cancellable.includes(job.status) ? 'cancel' : null;
  if (!can) return h('p', { class: 'muted' }, 'A completed job takes no action.');
  const reason = h('input', { id: 'action-reason', name: 'reason', required: true, maxlength: 2000 });
  const message = h('p', { role: 'status', id: 'action-outcome' });
  return h(
    'form',
    {
      class: 'actions',
      'aria-label': 'Job actions',
      on: {
        submit: async (event) => {
          event.preventDefault();
          message.textContent = '';
          try {
            const r = await app.api(`/api/jobs/${job.id}/${can}`, { method: 'POST', body: { reason: reason.value.trim() } });
            app.say(`${can}: ${r.previousStatus} → ${r.status}`);
            await refresh();
          } catch (error) {
            message.textContent = error.message;
          }
        },
      },
    },
    field(`Reason to ${can} (required)`, reason),
    h('button', { type: 'submit', id: `${can}-button` }, can === 'retry' ? 'Retry' : 'Cancel job'),
    message,
  );
}
