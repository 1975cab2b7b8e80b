/**
 * The full-text search indexer: follows the event log in commit order (event-log.ts), from the
 * position `search_positions` holds, and turns the events that carry text into search documents
 * (search-documents.ts), one per job:
 * - `job.enqueued` (or the first indexed event of a job it has no document for) makes the job's
 *   document from its row's payload;
 * - `job.attempt_failed` adds the error's name, message and code, `job.failed` its reason, to the
 *   error text;
 * - the operator's and the reconciler's events (cancelled, retried, stalled, interrupted, ...) and
 *   progress events add the strings of their payloads to the event text.
 * The attempt hot path writes nothing here: its cost is the indexer's, in whichever process runs it
 * (the `search-index` maintenance task, and each search first, for what is new).
 *
 * Exactly once: a batch reads its events, writes their documents and moves the position in one
 * transaction, which first takes the position row (PostgreSQL: `FOR UPDATE`; SQLite: the write
 * lock every ledger transaction takes first), so two indexers take turns and the second starts
 * where the first ended.
 */
import type { Ledger } from '../ledger.js';
import { eventLogEnd, readEventLog, type EventLogPosition } from '../jobs/event-log.js';
import { decodeJson, placeholders, toNumber, type Sql } from '../engine/sql.js';
import type { EventType } from '../lifecycle.js';
import { appendLine, clip, fieldLimits, payloadText, readDocuments, valuesText, writeDocuments, type DocumentTexts } from './search-documents.js';

/** The events whose text goes into the error field. */
const errorEventTypes = ['job.attempt_failed', 'job.failed'] as const satisfies readonly EventType[];
/** The events whose payload strings go into the event field. */
const textEventTypes = [
  'job.progress', 'job.stalled', 'job.interrupted', 'job.superseded', 'job.cancelled', 'job.retried', 'job.type_unknown', 'job.retry_refused',
] as const satisfies readonly EventType[];
/** Every event the indexer reads: the others (started, completed, retry_scheduled, ...) carry no text worth a word. */
export const indexedEventTypes: readonly EventType[] = ['job.enqueued', ...errorEventTypes, ...textEventTypes];

const positionName = 'events';

export interface IndexBatchResult {
  /** Events read (and passed) in this batch. */
  events: number;
  /** Documents made or changed. */
  documents: number;
}

export interface IndexOptions {
  /** Events per transaction. Default 500. */
  batchSize?: number;
  /** Stop after this many events (the next call goes on). Default 1,000,000. */
  maxEvents?: number;
  /** Checked between batches: an aborted signal ends the call with what was done so far. */
  signal?: AbortSignal;
  /** The time written into the position row. Default `Date.now()`. */
  now?: number;
}

export interface IndexResult {
  events: number;
  documents: number;
  batches: number;
  /** True when the index reached the end of the log (as far as this call could see it). */
  caughtUp: boolean;
}

/**
 * Indexes what the log holds past the position, a batch per transaction, until it is caught up
 * or `maxEvents` were read. A read comes first: with nothing new, no write transaction is opened
 * (on SQLite it would take the write lock the workers' commits need).
 */
export async function indexSearchDocuments(ledger: Ledger, options: IndexOptions = {}): Promise<IndexResult> {
  const batchSize = options.batchSize ?? 500;
  const maxEvents = options.maxEvents ?? 1_000_000;
  const result: IndexResult = { events: 0, documents: 0, batches: 0, caughtUp: false };
  while (!options.signal?.aborted && result.events < maxEvents) {
    if (!(await ledger.read((sql) => hasUnindexedEvents(sql)))) {
      result.caughtUp = true;
      break;
    }
    const limit = Math.min(batchSize, maxEvents - result.events);
    const batch = await ledger.transaction((sql) => indexBatch(sql, limit, options.now ?? Date.now()), { idempotent: true });
    result.events += batch.events;
    result.documents += batch.documents;
    result.batches += 1;
    if (batch.events < limit) {
      result.caughtUp = true;
      break;
    }
  }
  return result;
}

/**
 * Brings the index up to everything committed before this call began, for a search about to run.
 * On SQLite one `indexSearchDocuments` does that. On PostgreSQL the log is readable only below the
 * oldest transaction still open (event-log.ts), so a job committed just before the search by a
 * transaction younger than one still open elsewhere is not readable yet: this indexes again, every
 * 25 ms, until every transaction that had begun when it was called has ended, for at most `waitMs`.
 * `caughtUp` is false if it stopped short (`maxEvents` reached, the wait ran out, or `signal` aborted).
 */
export async function catchUpSearchIndex(
  ledger: Ledger,
  options: { maxEvents: number; waitMs: number; batchSize?: number; signal?: AbortSignal; now?: number },
): Promise<IndexResult> {
  // Every transaction below this id had begun (or ended) by now.
  const target =
    ledger.dialect === 'postgresql'
      ? toNumber((await ledger.read((sql) => sql.all('SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next')))[0]!.next)
      : 0;
  const deadline = Date.now() + options.waitMs;
  const total: IndexResult = { events: 0, documents: 0, batches: 0, caughtUp: false };
  for (;;) {
    const horizon = ledger.dialect === 'postgresql' ? (await ledger.read((sql) => eventLogEnd(sql))).order : target;
    const indexed = await indexSearchDocuments(ledger, {
      maxEvents: Math.max(1, options.maxEvents - total.events),
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.now !== undefined ? { now: options.now } : {}),
    });
    total.events += indexed.events;
    total.documents += indexed.documents;
    total.batches += indexed.batches;
    if (!indexed.caughtUp || total.events >= options.maxEvents) return total;
    // The pass began with all of them ended: it read every event they wrote.
    if (horizon >= target) return { ...total, caughtUp: true };
    if (Date.now() >= deadline || options.signal?.aborted) return total;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Where the index stands: the position row, or the log's start before the first batch. */
export async function readSearchPosition(sql: Sql, lock = false): Promise<EventLogPosition & { events: number }> {
  const [row] = await sql.all(
    `SELECT log_order, event_id, events FROM search_positions WHERE name = ?${lock && sql.dialect === 'postgresql' ? ' FOR UPDATE' : ''}`,
    [positionName],
  );
  return row ? { order: toNumber(row.log_order), id: String(row.event_id), events: toNumber(row.events) } : { order: 0, id: '', events: 0 };
}

/** Whether the log holds an event the index has not taken yet. */
export async function hasUnindexedEvents(sql: Sql): Promise<boolean> {
  const position = await readSearchPosition(sql);
  return (await readEventLog(sql, position, { types: indexedEventTypes, limit: 1 })).length > 0;
}

/** One batch, inside the caller's transaction: up to `limit` events, their documents, the new position. */
export async function indexBatch(sql: Sql, limit: number, now: number): Promise<IndexBatchResult> {
  await sql.run(
    `INSERT INTO search_positions (name, log_order, event_id, events, updated_at) VALUES (?, 0, '', 0, ?) ON CONFLICT (name) DO NOTHING`,
    [positionName, now],
  );
  const position = await readSearchPosition(sql, true);
  const logged = await readEventLog(sql, position, { types: indexedEventTypes, limit });
  if (logged.length === 0) return { events: 0, documents: 0 };

  const jobIds = [...new Set(logged.filter((l) => l.event.subjectType === 'job').map((l) => l.event.subjectId))];
  const existing = await readDocuments(sql, jobIds);
  const payloads = await readPayloads(sql, jobIds.filter((id) => !existing.has(id)));
  const created = new Map<string, DocumentTexts>();
  const changed = new Map<string, DocumentTexts>();
  for (const { event } of logged) {
    if (event.subjectType !== 'job') continue;
    const jobId = event.subjectId;
    let texts = created.get(jobId) ?? changed.get(jobId);
    if (!texts) {
      const before = existing.get(jobId);
      if (before) changed.set(jobId, (texts = { ...before }));
      else if (payloads.has(jobId)) created.set(jobId, (texts = { error: '', payload: payloadText(payloads.get(jobId)), event: '' }));
      else continue; // the job is gone (pruned): nothing to search for
    }
    addEventText(texts, event.type, event.payload);
  }
  for (const [jobId, texts] of changed) {
    const before = existing.get(jobId)!;
    if (texts.error === before.error && texts.payload === before.payload && texts.event === before.event) changed.delete(jobId);
  }
  await writeDocuments(sql, created, changed);
  const last = logged.at(-1)!;
  await sql.run('UPDATE search_positions SET log_order = ?, event_id = ?, events = events + ?, updated_at = ? WHERE name = ?', [
    last.position.order,
    last.position.id,
    logged.length,
    now,
    positionName,
  ]);
  return { events: logged.length, documents: created.size + changed.size };
}

/** What one event adds to its job's document. */
export function addEventText(texts: DocumentTexts, type: string, payload: unknown): void {
  const p = (typeof payload === 'object' && payload !== null ? payload : {}) as Record<string, unknown>;
  if (type === 'job.attempt_failed') {
    const error = (typeof p.error === 'object' && p.error !== null ? p.error : {}) as Record<string, unknown>;
    const parts = [error.name, error.message, error.code].filter((v): v is string => typeof v === 'string' && v.length > 0);
    texts.error = appendLine(texts.error, clip(parts.join(': '), fieldLimits.error), 'error');
  } else if (type === 'job.failed') {
    if (typeof p.reason === 'string') texts.error = appendLine(texts.error, clip(p.reason, fieldLimits.error), 'error');
  } else if (type !== 'job.enqueued') {
    texts.event = appendLine(texts.event, valuesText(payload, fieldLimits.event, false).replace(/\n/g, ' '), 'event');
  }
}

/**
 * The payloads of the jobs among `jobIds` that still exist. PostgreSQL: `FOR KEY SHARE`, so that a
 * prune deleting one of these jobs waits for this batch to commit and then deletes its document
 * too, rather than leave one written after its delete (the prune's own read then cannot see it).
 */
async function readPayloads(sql: Sql, jobIds: readonly string[]): Promise<Map<string, unknown>> {
  const found = new Map<string, unknown>();
  const lock = sql.dialect === 'postgresql' ? ' FOR KEY SHARE' : '';
  for (let start = 0; start < jobIds.length; start += 500) {
    const chunk = jobIds.slice(start, start + 500);
    for (const r of await sql.all(`SELECT id, payload FROM jobs WHERE id IN (${placeholders(chunk.length)})${lock}`, chunk)) {
      found.set(String(r.id), decodeJson(sql.dialect, r.payload));
    }
  }
  return found;
}
