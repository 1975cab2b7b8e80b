/** Runs: named groups of jobs with a status, the reason for it, and metadata. */
import { InvalidOptionError, NotFoundError } from '../../errors.js';
import type { RunRow, RunStatus } from '../entities/index.js';
import { appendEvents } from '../jobs/events.js';
import { newId } from '../ids.js';
import { toRunRow } from '../jobs/job-rows.js';
import { defaultJsonLimits, textProblem, toStorableJson } from '../json-value.js';
import type { Sql } from '../engine/sql.js';
import { idArgumentSchema, listRunsSchema, parseQuery } from '../query-schemas.js';

export const runStatuses: readonly RunStatus[] = ['open', 'running', 'completed', 'failed', 'cancelled'];
const finalRunStatuses: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

export async function createRun(
  tx: Sql,
  input: { name: string; metadata?: unknown; actor: string; now: number },
): Promise<RunRow> {
  if (typeof input.name !== 'string' || input.name.trim() === '' || input.name.length > 200 || textProblem(input.name) !== null) {
    throw new InvalidOptionError('name', 'a non-empty run name of at most 200 characters without NUL or lone surrogates', input.name);
  }
  checkActor(input.actor);
  // Metadata follows the rules of every stored JSON value (json-value.ts).
  const metadata = input.metadata === undefined || input.metadata === null ? null : toStorableJson(input.metadata, { path: 'metadata', name: 'metadata' }, defaultJsonLimits);
  if (metadata && !metadata.ok) throw new InvalidOptionError(metadata.problem.path, metadata.problem.expected, metadata.problem.got);
  const id = newId('run');
  await tx.run(
    `INSERT INTO runs (id, name, status, metadata, created_at, updated_at, version) VALUES (?, ?, 'open', ?, ?, ?, 1)`,
    [id, input.name, metadata ? metadata.text : null, input.now, input.now],
  );
  await appendEvents(tx, [
    { subjectType: 'run', subjectId: id, seq: 1, type: 'run.created', payload: { name: input.name }, actor: input.actor, createdAt: input.now },
  ]);
  return getRun(tx, id);
}

export async function setRunStatus(
  tx: Sql,
  input: { runId: string; status: RunStatus; reason: string | null; actor: string; now: number },
): Promise<RunRow> {
  if (!(runStatuses as readonly unknown[]).includes(input.status)) throw new InvalidOptionError('status', `one of ${runStatuses.join(', ')}`, input.status);
  if (input.reason !== null && (typeof input.reason !== 'string' || input.reason.length > 2000 || textProblem(input.reason) !== null)) {
    throw new InvalidOptionError('reason', 'a string of at most 2000 characters without NUL or lone surrogates', input.reason);
  }
  checkActor(input.actor);
  const before = await getRun(tx, input.runId);
  const finishedAt = finalRunStatuses.includes(input.status) ? input.now : null;
  const [updated] = await tx.all(
    `UPDATE runs SET status = ?, status_reason = ?, finished_at = ?, updated_at = ?, version = version + 1
     WHERE id = ? RETURNING *`,
    [input.status, input.reason, finishedAt, input.now, input.runId],
  );
  const after = toRunRow(tx.dialect, updated!);
  await appendEvents(tx, [
    {
      subjectType: 'run',
      subjectId: input.runId,
      seq: after.version,
      type: 'run.status_changed',
      payload: { from: before.status, to: input.status, reason: input.reason },
      actor: input.actor,
      createdAt: input.now,
    },
  ]);
  return after;
}

export async function getRun(sql: Sql, runId: string): Promise<RunRow> {
  runId = parseQuery(idArgumentSchema, runId, 'runId');
  const [raw] = await sql.all('SELECT * FROM runs WHERE id = ?', [runId]);
  if (!raw) throw new NotFoundError('run', runId);
  return toRunRow(sql.dialect, raw);
}

/** Runs, newest first: at most `limit` (default 50, at most 10,000), optionally of one status. */
export async function listRuns(sql: Sql, given: { limit?: number; status?: RunStatus } = {}): Promise<RunRow[]> {
  const options = parseQuery(listRunsSchema, given);
  const limit = options.limit ?? 50;
  const rows = options.status
    ? await sql.all('SELECT * FROM runs WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT ?', [options.status, limit])
    : await sql.all('SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT ?', [limit]);
  return rows.map((r) => toRunRow(sql.dialect, r));
}

function checkActor(actor: unknown): void {
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > 200 || textProblem(actor) !== null) {
    throw new InvalidOptionError('actor', 'a non-empty string of at most 200 characters without NUL or lone surrogates', actor);
  }
}

/** Which of these run ids exist (to reject an enqueue naming an unknown run before writing). */
export async function existingRunIds(sql: Sql, runIds: readonly string[]): Promise<Set<string>> {
  if (runIds.length === 0) return new Set();
  const rows = await sql.all(`SELECT id FROM runs WHERE id IN (${runIds.map(() => '?').join(', ')})`, [...runIds]);
  return new Set(rows.map((r) => r.id as string));
}
