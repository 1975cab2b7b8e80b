/**
 * Runs: named groups of jobs with a status, the reason for it, and metadata. Through MikroORM's unit
 * of work, on the EntityManager fork of one ledger operation (`Ledger.unitOfWork`, `readEntities`).
 */
import { LockMode } from '../orm/mikro-orm.js';
import { InvalidOptionError, NotFoundError } from '../../errors.js';
import { RunEntity, type AuditSource, type RunRow, type RunStatus } from '../entities/index.js';
import { appendEvents } from '../jobs/events.js';
import { newId } from '../ids.js';
import { defaultJsonLimits, textProblem, toStorableJson } from '../json-value.js';
import { dialectOf, placeholders, type Sql } from '../engine/sql.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { sqlFor } from '../orm/em-sql.js';
import { plainRow, plainRows } from '../orm/entity-rows.js';
import { idArgumentSchema, listRunsSchema, parseQuery } from '../query-schemas.js';
import { checkAuditSource, fieldChanges, recordAudit } from '../audit/audit-writes.js';

export const runStatuses: readonly RunStatus[] = ['open', 'running', 'completed', 'failed', 'cancelled'];
const finalRunStatuses: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

export async function createRun(em: LedgerEm, input: { name: string; metadata?: unknown; actor: string; now: number }): Promise<RunRow> {
  if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 200 || textProblem(input.name) !== null) {
    throw new InvalidOptionError('name', 'a non-empty run name of at most 200 characters without NUL or lone surrogates', input.name);
  }
  checkActor(input.actor);
  // Metadata follows the rules of every stored JSON value (json-value.ts).
  const metadata = input.metadata === undefined || input.metadata === null ? null : toStorableJson(input.metadata, { path: 'metadata', name: 'metadata' }, defaultJsonLimits);
  if (metadata && !metadata.ok) throw new InvalidOptionError(metadata.problem.path, metadata.problem.expected, metadata.problem.got);
  const run = em.create(RunEntity, {
    id: newId('run'),
    name: input.name,
    status: 'open',
    statusReason: null,
    metadata: metadata ? metadata.value : null,
    createdAt: input.now,
    updatedAt: input.now,
    finishedAt: null,
    version: 1,
  });
  await em.flush();
  // Events have one writer, shared with the hot path (jobs/events.ts), on this transaction's connection.
  await appendEvents(sqlFor(em), [
    { subjectType: 'run', subjectId: run.id, seq: 1, type: 'run.created', payload: { name: input.name }, actor: input.actor, createdAt: input.now },
  ]);
  return plainRow(RunEntity, run);
}

export async function setRunStatus(
  em: LedgerEm,
  input: { runId: string; status: RunStatus; reason: string | null; actor: string; source: AuditSource; now: number },
): Promise<RunRow> {
  if (!(runStatuses as readonly unknown[]).includes(input.status)) throw new InvalidOptionError('status', `one of ${runStatuses.join(', ')}`, input.status);
  if (input.reason !== null && (typeof input.reason !== 'string' || input.reason.length > 2000 || textProblem(input.reason) !== null)) {
    throw new InvalidOptionError('reason', 'a string of at most 2000 characters without NUL or lone surrogates', input.reason);
  }
  checkActor(input.actor);
  const source = checkAuditSource(input.source);
  const runId = parseQuery(idArgumentSchema, input.runId, 'runId');
  // PostgreSQL: the row stays locked until COMMIT, so two status changes get consecutive versions
  // (each one's event sequence number). SQLite's write lock, taken first, serialises them already.
  const run = await em.findOne(RunEntity, { id: runId }, dialectOf(em) === 'postgresql' ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {});
  if (!run) throw new NotFoundError('run', runId);
  const from = run.status;
  const before = plainRow(RunEntity, run);
  em.assign(run, {
    status: input.status,
    statusReason: input.reason,
    finishedAt: finalRunStatuses.includes(input.status) ? input.now : null,
    updatedAt: input.now,
    version: run.version + 1,
  });
  await em.flush();
  await appendEvents(sqlFor(em), [
    {
      subjectType: 'run',
      subjectId: run.id,
      seq: run.version,
      type: 'run.status_changed',
      payload: { from, to: input.status, reason: input.reason },
      actor: input.actor,
      createdAt: input.now,
    },
  ]);
  const after = plainRow(RunEntity, run);
  recordAudit(em, { actor: input.actor, source }, {
    action: 'run.status',
    subjectType: 'run',
    subjectId: run.id,
    reason: input.reason,
    changes: fieldChanges(before, after, ['status', 'statusReason', 'finishedAt']),
    createdAt: input.now,
  });
  await em.flush();
  return after;
}

export async function getRun(em: LedgerEm, runId: string): Promise<RunRow> {
  runId = parseQuery(idArgumentSchema, runId, 'runId');
  const run = await em.findOne(RunEntity, { id: runId });
  if (!run) throw new NotFoundError('run', runId);
  return plainRow(RunEntity, run);
}

/** Runs, newest first: at most `limit` (default 50, at most 10,000), optionally of one status. */
export async function listRuns(em: LedgerEm, given: { limit?: number; status?: RunStatus } = {}): Promise<RunRow[]> {
  const options = parseQuery(listRunsSchema, given);
  const runs = await em.find(RunEntity, options.status ? { status: options.status } : {}, {
    orderBy: { createdAt: 'desc', id: 'desc' },
    limit: options.limit ?? 50,
  });
  return plainRows(RunEntity, runs);
}

function checkActor(actor: unknown): void {
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > 200 || textProblem(actor) !== null) {
    throw new InvalidOptionError('actor', 'a non-empty string of at most 200 characters without NUL or lone surrogates', actor);
  }
}

/** Which of these run ids exist (to reject an enqueue naming an unknown run before writing). */
export async function existingRunIds(em: LedgerEm, runIds: readonly string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const runs = await em.find(RunEntity, { id: { $in: [...runIds] } }, { fields: ['id'] });
  return new Set(runs.map((r) => r.id));
}

/**
 * `existingRunIds` through a caller's transaction (transactional enqueue). A statement, not the ORM:
 * the caller's ORM need not know the ledger's entities, only its database must hold the tables.
 */
export async function existingRunIdsIn(sql: Sql, runIds: readonly string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const rows = await sql.all(`SELECT id FROM runs WHERE id IN (${placeholders(runIds.length)})`, [...runIds]);
  return new Set(rows.map((r) => r.id as string));
}
