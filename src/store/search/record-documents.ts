/**
 * Search documents made straight from whole job records (row, attempts, events), for jobs that come
 * back into the live tables with their history: a segment restored from the cold archive. The
 * archive deleted their documents with their rows (archive-moves.ts); the restore writes them again
 * in its own transaction, so a job is searchable the moment it is live again.
 *
 * Why not leave it to the indexer: the restored events are new rows of the event log, but on SQLite
 * their rowids are `MAX(rowid) + 1` onwards, and when the archived events were the newest ones the
 * log held, those rowids are again ones the indexer's position has passed: it would never read them.
 * A document made here is the one the indexer makes from the same events (the payload's text, then
 * each indexed event's text in the job's order); if the indexer does read the events later (always
 * on PostgreSQL, where they carry the restore's transaction id), every line they add is already in
 * the document and nothing changes.
 */
import type { JobDetail } from '../jobs/job-queries.js';
import type { Sql } from '../engine/sql.js';
import { deleteDocuments, payloadText, writeDocuments, type DocumentTexts } from './search-documents.js';
import { addEventText, indexedEventTypes } from './search-indexer.js';

/** The document the indexer makes of `record`, or null when none of its events is one it reads (it makes none then). */
export function documentOfRecord(record: JobDetail): DocumentTexts | null {
  const events = record.events.filter((e) => indexedEventTypes.includes(e.type as (typeof indexedEventTypes)[number])).sort((a, b) => a.seq - b.seq);
  if (events.length === 0) return null;
  const texts: DocumentTexts = { error: '', payload: payloadText(record.job.payload), event: '' };
  for (const event of events) addEventText(texts, event.type, event.payload);
  return texts;
}

/**
 * Inside the caller's transaction: replaces the documents of `records`' jobs with the ones made of
 * their records. Returns how many documents were written.
 */
export async function writeRecordDocuments(sql: Sql, records: readonly JobDetail[]): Promise<number> {
  const documents = new Map<string, DocumentTexts>();
  for (const record of records) {
    const texts = documentOfRecord(record);
    if (texts) documents.set(record.job.id, texts);
  }
  // None should exist (the archive deleted them); one left by anything else is replaced, not doubled.
  const ids = records.map((r) => r.job.id);
  for (let at = 0; at < ids.length; at += 500) await deleteDocuments(sql, ids.slice(at, at + 500));
  await writeDocuments(sql, documents, new Map());
  return documents.size;
}
