// A job's lineage on its page: the original a replay made it from, the jobs replays made from it
// (each with the replay's name and reason), operator retries, and the audit rows of the job.
import { h } from '../dom.js';
import { auditTable } from './audit.js';

function jobLink(app, id) {
  return h('a', { href: app.href(`/jobs/${encodeURIComponent(id)}`), 'data-nav': true }, id);
}

function replayText(replay) {
  if (!replay) return ' (replay record gone)';
  return ` by replay “${replay.name}” (${replay.reason}), ${replay.actor}`;
}

/** The Lineage section (a list, shown near the top), from `GET /api/jobs/:id/lineage`. */
export function lineageSection(app, lineage) {
  const retries = lineage.audit.filter((row) => row.action === 'job.retry').length;
  const lines = [];
  if (lineage.replayOf) {
    lines.push(h('li', { id: 'replay-of' }, 'Replay of ', jobLink(app, lineage.replayOf.jobId), replayText(lineage.replayOf.replay)));
  }
  if (lineage.replayedAs.length) {
    lines.push(
      h(
        'li',
        { id: 'replayed-as' },
        'Replayed as ',
        h('ul', {}, lineage.replayedAs.map((made) => h('li', {}, jobLink(app, made.jobId), replayText(made.replay)))),
      ),
    );
  }
  if (retries) lines.push(h('li', { id: 'operator-retries' }, `Retried by an operator ${retries} time${retries === 1 ? '' : 's'} (new attempts of this job)`));
  return [
    h('h2', {}, 'Lineage'),
    lines.length ? h('ul', { class: 'lineage' }, lines) : h('p', { class: 'muted', id: 'no-lineage' }, 'No replay made this job or was made from it, and no operator retried it.'),
  ];
}

/** The Operator actions section: the job's audit rows (shown below its events). */
export function operatorActionsSection(app, lineage) {
  return [
    h('h2', {}, 'Operator actions'),
    auditTable(app, lineage.audit, 'Audit rows of this job, newest first', 'No operator action on this job.'),
    h('p', {}, h('a', { href: app.href(`/audit?subject=${encodeURIComponent(lineage.jobId)}`), 'data-nav': true }, lineage.auditMore ? 'All audit rows of this job' : 'This job on the Audit page')),
  ];
}
