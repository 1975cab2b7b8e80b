/**
 * Figures about the jobs of one run: what `jobledger demo` prints at the end. Statements, not the
 * ORM: aggregates over joins of jobs, attempts and events, which the entities do not relate (they
 * hold ids, not relations) and which loading entities would turn into reading every row of the run.
 */
import { attemptTransitions, statusIn, type AttemptStatus } from '../lifecycle.js';
import { toNumber, type Sql } from '../engine/sql.js';
import { idArgumentSchema, parseQuery } from '../query-schemas.js';

export interface RunFigures {
  attemptsByStatus: Partial<Record<AttemptStatus, number>>;
  events: number;
  /** Durations of succeeded attempts, sorted ascending (ms). */
  succeededDurationsMs: number[];
  firstCreatedAt: number | null;
  lastFinishedAt: number | null;
}

export async function runFigures(sql: Sql, runId: string): Promise<RunFigures> {
  runId = parseQuery(idArgumentSchema, runId, 'runId');
  const attempts = await sql.all(
    `SELECT a.status AS status, COUNT(*) AS n FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.run_id = ? GROUP BY a.status`,
    [runId],
  );
  const [events] = await sql.all(
    `SELECT COUNT(*) AS n FROM events e JOIN jobs j ON e.subject_type = 'job' AND e.subject_id = j.id WHERE j.run_id = ?`,
    [runId],
  );
  const durations = await sql.all(
    `SELECT a.duration_ms AS d FROM attempts a JOIN jobs j ON j.id = a.job_id
     WHERE j.run_id = ? AND ${statusIn('a.status', [attemptTransitions.succeed.to])} ORDER BY a.duration_ms`,
    [runId],
  );
  const [span] = await sql.all(`SELECT MIN(created_at) AS first, MAX(finished_at) AS last FROM jobs WHERE run_id = ?`, [runId]);
  return {
    attemptsByStatus: Object.fromEntries(attempts.map((r) => [r.status as string, toNumber(r.n)])),
    events: toNumber(events?.n ?? 0),
    succeededDurationsMs: durations.map((r) => toNumber(r.d)),
    firstCreatedAt: span?.first === null || span?.first === undefined ? null : toNumber(span.first),
    lastFinishedAt: span?.last === null || span?.last === undefined ? null : toNumber(span.last),
  };
}
