/**
 * The attempt writes, batch first: many starts, or many outcomes, in one transaction (one is a batch
 * of one). The fenced job updates of a whole batch are one statement each (rows through
 * `rowsSource`: arrays on PostgreSQL, where every statement is a network round trip; a VALUES list
 * on SQLite, where binding and stepping a statement per row cost more than finding the rows). The
 * attempt and event rows of the batch are collected in a `RowBatch` and written together at its end
 * (row-batch.ts). The rare cases (a job not waiting for its next attempt, a late or duplicated
 * outcome) take the slow path of attempt-writes.ts or outcome-writes.ts, after the rows collected so
 * far are written, since the slow path reads them.
 */
import { recordLateOutcome, endAppliedOutcome, runOutcomeHooks, finishCancelledAttempt, outcomeColumns, outcomeSet, outcomeValues, type OutcomeRequest } from './outcome-writes.js';
import { beginSet, beginSlowly, startAttempt, waitingSources, type BeginRequest, type BeginResult, type RecordedOutcome } from './attempt-writes.js';
import { startedJobColumns, toStartedJob } from '../jobs/job-rows.js';
import { jobFrom } from '../lifecycle.js';
import { notIndexed, placeholders, rowsForm, RowsStatement, toNumber, type Column, type Row, type Sql, type Statement } from '../engine/sql.js';
import { RowBatch, writeRows } from '../engine/row-batch.js';

export type { BeginRequest } from './attempt-writes.js';
export type { OutcomeRequest } from './outcome-writes.js';

/**
 * Begins attempts in one transaction. The jobs waiting for their next attempt (nearly all of them)
 * take one UPDATE for the whole batch; the others (a job still `running`, final or unknown, or a
 * second delivery of a job in this batch) take the slow path.
 */
export async function beginAttempts(tx: Sql, requests: readonly BeginRequest[]): Promise<BeginResult[]> {
  const seen = new Set<string>();
  const firsts = requests.filter((r) => !seen.has(r.jobId) && seen.add(r.jobId));
  const rows = firsts.map((r) => [r.jobId, r.now, 1]);
  const updated = await allOf(tx, beginBatch.statements(rowsForm(tx), rows, waitingSources));
  const startedRows = new Map(updated.map((row) => [row.id as string, toStartedJob(tx.dialect, row)]));
  const batch = new RowBatch();
  const results: BeginResult[] = [];
  for (const r of requests) {
    const row = startedRows.get(r.jobId);
    if (row) {
      startedRows.delete(r.jobId); // a duplicate delivery in the same batch takes the slow path
      results.push(startAttempt(batch, row, [], r));
    } else {
      await writeRows(tx, batch);
      results.push(await beginSlowly(tx, batch, r));
    }
  }
  await writeRows(tx, batch);
  return results;
}

/** One row of the batched begin: the job, `now`, and the one event (`job.started`) it appends. */
const beginColumns: readonly Column[] = [
  { name: 'id', type: 'text' },
  { name: 'now', type: 'bigint' },
  { name: 'events', type: 'int' },
];

const beginBatch = new RowsStatement(
  beginColumns,
  (dialect, source) => `UPDATE jobs SET ${beginSet}
   FROM ${source}
   WHERE jobs.id = v.id AND ${notIndexed(dialect, 'jobs.status')} IN (${placeholders(waitingSources.length)})
   RETURNING ${startedJobColumns}`,
);

/** The rows returned by `statements`, run in order (one statement as arrays, one per chunk as VALUES). */
async function allOf(tx: Sql, statements: readonly Statement[]): Promise<Row[]> {
  if (statements.length === 1) return tx.all(statements[0]!.text, statements[0]!.params);
  const rows: Row[] = [];
  for (const statement of statements) rows.push(...(await tx.all(statement.text, statement.params)));
  return rows;
}

/**
 * Applies outcomes in one transaction. The fenced job updates of the whole batch are one
 * statement; the attempts' ends and the events are collected and written at the end. A cancelled
 * attempt only ends its own row; an outcome whose update did not match is late (the slow path).
 */
export async function recordOutcomes(tx: Sql, requests: readonly OutcomeRequest[]): Promise<RecordedOutcome[]> {
  const fenced = requests.filter((r) => r.outcome.type !== 'cancelled');
  const updated = fenced.length === 0 ? [] : await allOf(tx, outcomeBatch.statements(rowsForm(tx), fenced.map((r) => outcomeValues(r))));
  const applied = new Map(updated.map((row) => [`${String(row.id)}#${toNumber(row.current_attempt)}`, row]));
  const batch = new RowBatch();
  const results: RecordedOutcome[] = [];
  for (const r of requests) {
    if (r.outcome.type === 'cancelled') {
      results.push(finishCancelledAttempt(batch, r.ref, r.now, r.outcome.reason));
      continue;
    }
    const key = `${r.ref.jobId}#${r.ref.number}`;
    const row = applied.get(key);
    if (!row) {
      await writeRows(tx, batch);
      results.push(await recordLateOutcome(tx, r.ref, r.outcome, r.now, Math.max(0, r.now - r.ref.startedAt)));
      continue;
    }
    applied.delete(key); // a duplicate of the same outcome in this batch is late
    const ended = endAppliedOutcome(batch, r, row);
    results.push(r.hooks.length > 0 ? await runOutcomeHooks(tx, batch, r, ended) : ended.recorded);
  }
  await writeRows(tx, batch);
  return results;
}

const outcomeBatch = new RowsStatement(
  outcomeColumns,
  (dialect, source) => `UPDATE jobs SET ${outcomeSet}
   FROM ${source}
   WHERE jobs.id = v.id AND ${jobFrom('complete', notIndexed(dialect, 'jobs.status'))} AND jobs.current_attempt = v.attempt
   RETURNING jobs.id, jobs.current_attempt, jobs.status, jobs.run_at, jobs.version, jobs.pipeline_id, jobs.stage`,
);
