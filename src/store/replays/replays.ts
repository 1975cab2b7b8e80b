/**
 * Replays: the record of a named replay and the lineage of the jobs it made, through MikroORM's unit
 * of work on the EntityManager fork of one operation. The runner that reads the originals and
 * enqueues the new jobs is jobs/replay.ts; each of its batches calls `recordReplayBatch` in the same
 * transaction as the batch's jobs, so a replay's counts and links never disagree with its jobs.
 */
import { LockMode } from '../orm/mikro-orm.js';
import { IllegalTransitionError, InvalidOptionError, NotFoundError } from '../../errors.js';
import { JobReplayEntity, ReplayEntity, type AuditSource, type JobReplayRow, type ReplayRow, type ReplayStatus } from '../entities/index.js';
import { checkAuditContext, recordAudit } from '../audit/audit-writes.js';
import { appendEvents } from '../jobs/events.js';
import { newId } from '../ids.js';
import { textProblem } from '../json-value.js';
import { dialectOf } from '../engine/sql.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { sqlFor } from '../orm/em-sql.js';
import { plainRow, plainRows } from '../orm/entity-rows.js';
import { idArgumentSchema, parseQuery } from '../query-schemas.js';

export const replayStatuses: readonly ReplayStatus[] = ['running', 'completed', 'cancelled', 'failed'];

/** A replay's batch found it no longer running (cancelled meanwhile): the batch is rolled back. */
export class ReplayStoppedError extends Error {
  constructor(
    readonly replayId: string,
    readonly status: ReplayStatus,
  ) {
    super(`replay ${replayId} is ${status}`);
  }
}

function checkText(option: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > max || textProblem(value) !== null) {
    throw new InvalidOptionError(option, `a non-empty string of at most ${max} characters without NUL or lone surrogates`, value);
  }
  return value;
}

export async function startReplay(
  em: LedgerEm,
  input: { name: string; reason: string; actor: string; source: AuditSource; filter: unknown; jobLimit: number | null; now: number },
): Promise<ReplayRow> {
  const replay = em.create(ReplayEntity, {
    id: newId('rpl'),
    name: checkText('name', input.name, 200),
    reason: checkText('reason', input.reason, 2000),
    actor: checkText('actor', input.actor, 200),
    filter: input.filter,
    status: 'running',
    statusReason: null,
    jobLimit: input.jobLimit,
    matched: 0,
    created: 0,
    createdAt: input.now,
    updatedAt: input.now,
    finishedAt: null,
  });
  recordAudit(em, checkAuditContext({ actor: replay.actor, source: input.source }), {
    action: 'replay.start',
    subjectType: 'replay',
    subjectId: replay.id,
    reason: replay.reason,
    changes: null,
    filter: input.filter,
    count: input.jobLimit,
    createdAt: input.now,
  });
  await em.flush();
  await appendReplayEvent(em, replay.id, 1, 'replay.started', { name: replay.name, reason: replay.reason, filter: input.filter, limit: input.jobLimit }, replay.actor, input.now);
  return plainRow(ReplayEntity, replay);
}

/**
 * One batch of a running replay: the new jobs' links to their originals and the replay's totals so
 * far, in the transaction that inserted those jobs. Throws `ReplayStoppedError` (rolling the batch
 * back) when the replay is no longer running.
 */
export async function recordReplayBatch(
  em: LedgerEm,
  input: { replayId: string; links: readonly JobReplayRow[]; matched: number; created: number; now: number },
): Promise<void> {
  const updated = await em.nativeUpdate(
    ReplayEntity,
    { id: input.replayId, status: 'running' },
    { matched: input.matched, created: input.created, updatedAt: input.now },
  );
  if (updated === 0) {
    const replay = await em.findOne(ReplayEntity, { id: input.replayId });
    throw new ReplayStoppedError(input.replayId, replay?.status ?? 'failed');
  }
  for (const link of input.links) em.create(JobReplayEntity, link);
  await em.flush();
}

/**
 * Ends a replay: `completed` by its runner, `failed` with the error that stopped it, or `cancelled`
 * by an operator while it runs. Only a running replay ends; another end is an illegal transition.
 */
export async function finishReplay(
  em: LedgerEm,
  input: { replayId: string; status: Exclude<ReplayStatus, 'running'>; reason: string | null; actor: string; source?: AuditSource; now: number },
): Promise<ReplayRow> {
  const replayId = parseQuery(idArgumentSchema, input.replayId, 'replayId');
  if (input.status === 'cancelled') checkText('reason', input.reason, 2000);
  checkText('actor', input.actor, 200);
  const replay = await em.findOne(ReplayEntity, { id: replayId }, dialectOf(em) === 'postgresql' ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
  if (!replay) throw new NotFoundError('replay', replayId);
  if (replay.status !== 'running') throw new IllegalTransitionError(replayId, replay.status, input.status === 'cancelled' ? 'cancel' : 'finish');
  em.assign(replay, { status: input.status, statusReason: input.reason, updatedAt: input.now, finishedAt: input.now });
  // An operator's cancel is an action of theirs; a replay's own end is not.
  if (input.status === 'cancelled') {
    recordAudit(em, checkAuditContext({ actor: input.actor, source: input.source ?? 'library' }), {
      action: 'replay.cancel',
      subjectType: 'replay',
      subjectId: replay.id,
      reason: input.reason,
      changes: { status: { before: 'running', after: 'cancelled' } },
      count: replay.created,
      createdAt: input.now,
    });
  }
  await em.flush();
  const payload = { status: input.status, reason: input.reason, matched: replay.matched, created: replay.created };
  await appendReplayEvent(em, replay.id, 2, 'replay.finished', payload, input.actor, input.now);
  return plainRow(ReplayEntity, replay);
}

/** A replay's two events: `replay.started` (seq 1) and `replay.finished` (seq 2), through the events' one writer. */
async function appendReplayEvent(em: LedgerEm, replayId: string, seq: 1 | 2, type: 'replay.started' | 'replay.finished', payload: unknown, actor: string, now: number): Promise<void> {
  await appendEvents(sqlFor(em), [{ subjectType: 'replay', subjectId: replayId, seq, type, payload, actor, createdAt: now }]);
}

export async function getReplay(em: LedgerEm, replayId: string): Promise<ReplayRow> {
  replayId = parseQuery(idArgumentSchema, replayId, 'replayId');
  const replay = await em.findOne(ReplayEntity, { id: replayId });
  if (!replay) throw new NotFoundError('replay', replayId);
  return plainRow(ReplayEntity, replay);
}

/** Newest first. */
export async function listReplays(em: LedgerEm, options: { limit?: number; status?: ReplayStatus } = {}): Promise<ReplayRow[]> {
  const limit = options.limit ?? 100;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidOptionError('limit', 'a whole number from 1 to 10000', options.limit);
  if (options.status !== undefined && !replayStatuses.includes(options.status)) {
    throw new InvalidOptionError('status', `one of ${replayStatuses.join(', ')}`, options.status);
  }
  const replays = await em.find(ReplayEntity, options.status ? { status: options.status } : {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  return plainRows(ReplayEntity, replays);
}

/** Where a job came from and what was made from it: its original (if a replay made it) and its replays. */
export interface JobLineage {
  replayOf: (JobReplayRow & { replayName: string }) | null;
  replayedAs: (JobReplayRow & { replayName: string })[];
}

export async function jobLineage(em: LedgerEm, jobId: string): Promise<JobLineage> {
  jobId = parseQuery(idArgumentSchema, jobId, 'jobId');
  const own = await em.findOne(JobReplayEntity, { jobId });
  const made = await em.find(JobReplayEntity, { replayOf: jobId }, { orderBy: { jobId: 'asc' }, limit: 1000 });
  const replayIds = [...new Set([...(own ? [own.replayId] : []), ...made.map((m) => m.replayId)])];
  const replays = replayIds.length ? await em.find(ReplayEntity, { id: { $in: replayIds } }) : [];
  const names = new Map(replays.map((r) => [r.id, r.name]));
  const named = (link: JobReplayRow) => ({ ...plainRow(JobReplayEntity, link), replayName: names.get(link.replayId) ?? '' });
  return { replayOf: own ? named(own) : null, replayedAs: made.map(named) };
}
