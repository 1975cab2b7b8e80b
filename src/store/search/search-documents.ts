/**
 * Search documents: one per job, three texts (its attempts' error messages, its payload's values,
 * the text of its notable events), written by the indexer (search-indexer.ts) and deleted with
 * their jobs by the retention prune. SQLite keeps the texts in the FTS5 table
 * `search_documents_fts` under the rowid `search_documents` maps the job to; PostgreSQL keeps them
 * in `search_documents` with their tsvector, computed in the same statement.
 */
import { placeholders, type Row, type Sql } from '../engine/sql.js';
import { fieldWeights } from './search-query.js';

/** A job's document texts. */
export interface DocumentTexts {
  error: string;
  payload: string;
  event: string;
}

/** Longest text kept per field (characters): every word of a payload of a few kilobytes, bounded for a megabyte one. */
export const fieldLimits: Readonly<Record<keyof DocumentTexts, number>> = { error: 8000, payload: 8000, event: 4000 };

/** The values of a JSON document as text: strings (and with `numbers`, numbers), depth first, one per line. */
export function valuesText(value: unknown, limit: number, numbers: boolean): string {
  const parts: string[] = [];
  let length = 0;
  const visit = (v: unknown, depth: number): void => {
    if (length >= limit || depth > 32) return;
    if (typeof v === 'string') {
      if (v.length === 0) return;
      parts.push(v);
      length += v.length + 1;
    } else if (numbers && typeof v === 'number' && Number.isFinite(v)) {
      const text = String(v);
      parts.push(text);
      length += text.length + 1;
    } else if (Array.isArray(v)) {
      for (const item of v) visit(item, depth + 1);
    } else if (typeof v === 'object' && v !== null) {
      for (const item of Object.values(v)) visit(item, depth + 1);
    }
  };
  visit(value, 0);
  return clip(parts.join('\n'), limit);
}

/** `text` with `line` added on a line of its own, unless it holds that line already; clipped to the field's limit. */
export function appendLine(text: string, line: string, field: keyof DocumentTexts): string {
  if (line.length === 0 || text.split('\n').includes(line)) return text;
  return clip(text ? `${text}\n${line}` : line, fieldLimits[field]);
}

export function clip(text: string, limit: number): string {
  if (text.length <= limit) return text;
  // Not in the middle of a surrogate pair.
  const end = /[\uD800-\uDBFF]/.test(text[limit - 1] ?? '') ? limit - 1 : limit;
  return text.slice(0, end);
}

export function payloadText(payload: unknown): string {
  return valuesText(payload, fieldLimits.payload, true);
}

/** The documents of `jobIds` that exist, by job id. */
export async function readDocuments(sql: Sql, jobIds: readonly string[]): Promise<Map<string, DocumentTexts>> {
  const found = new Map<string, DocumentTexts>();
  for (let start = 0; start < jobIds.length; start += 500) {
    const chunk = jobIds.slice(start, start + 500);
    const rows =
      sql.dialect === 'sqlite'
        ? await sql.all(
            `SELECT s.job_id, f.error_text, f.payload_text, f.event_text FROM search_documents s
               JOIN search_documents_fts f ON f.rowid = s.doc_id WHERE s.job_id IN (${placeholders(chunk.length)})`,
            chunk,
          )
        : await sql.all(`SELECT job_id, error_text, payload_text, event_text FROM search_documents WHERE job_id IN (${placeholders(chunk.length)})`, chunk);
    for (const r of rows) {
      found.set(String(r.job_id), textsOf(r));
    }
  }
  return found;
}

/** A document row's three texts (`error_text`, `payload_text`, `event_text`). */
export function textsOf(row: Row): DocumentTexts {
  const text = (value: unknown) => (typeof value === 'string' ? value : '');
  return { error: text(row.error_text), payload: text(row.payload_text), event: text(row.event_text) };
}

/** The tsvector of a document's three texts, each with its field's weight (parameters: error, payload, event). */
const vectorSql = `setweight(to_tsvector('simple', ?::text), '${fieldWeights.error}') || setweight(to_tsvector('simple', ?::text), '${fieldWeights.payload}') || setweight(to_tsvector('simple', ?::text), '${fieldWeights.event}')`;

/** Writes new documents (`created`) and new texts of existing ones (`changed`). */
export async function writeDocuments(sql: Sql, created: ReadonlyMap<string, DocumentTexts>, changed: ReadonlyMap<string, DocumentTexts>): Promise<void> {
  if (sql.dialect === 'sqlite') {
    // Two statements per chunk of new documents: their rowids, then their texts under those rowids.
    const fresh = [...created];
    for (let start = 0; start < fresh.length; start += 100) {
      const chunk = fresh.slice(start, start + 100);
      const rows = await sql.all(`INSERT INTO search_documents (job_id) VALUES ${chunk.map(() => '(?)').join(', ')} RETURNING doc_id, job_id`, chunk.map(([jobId]) => jobId));
      const docIds = new Map(rows.map((r) => [String(r.job_id), r.doc_id]));
      await sql.run(
        `INSERT INTO search_documents_fts (rowid, error_text, payload_text, event_text) VALUES ${chunk.map(() => '(?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap(([jobId, t]) => [docIds.get(jobId), t.error, t.payload, t.event]),
      );
    }
    for (const [jobId, texts] of changed) {
      await sql.run(
        'UPDATE search_documents_fts SET error_text = ?, payload_text = ?, event_text = ? WHERE rowid = (SELECT doc_id FROM search_documents WHERE job_id = ?)',
        [texts.error, texts.payload, texts.event, jobId],
      );
    }
    return;
  }
  const rows = [...created, ...changed];
  // One statement per chunk: a job's new and changed documents alike, its vector computed here.
  for (let start = 0; start < rows.length; start += 100) {
    const chunk = rows.slice(start, start + 100);
    const values = chunk.map(() => `(?, ?, ?, ?, ${vectorSql})`).join(', ');
    await sql.run(
      `INSERT INTO search_documents (job_id, error_text, payload_text, event_text, search_vector) VALUES ${values}
         ON CONFLICT (job_id) DO UPDATE SET error_text = excluded.error_text, payload_text = excluded.payload_text,
           event_text = excluded.event_text, search_vector = excluded.search_vector`,
      chunk.flatMap(([jobId, t]) => [jobId, t.error, t.payload, t.event, t.error, t.payload, t.event]),
    );
  }
}

/** Deletes the documents of `jobIds` (jobs the retention prune deleted), returning how many there were. */
export async function deleteDocuments(sql: Sql, jobIds: readonly string[]): Promise<number> {
  if (jobIds.length === 0) return 0;
  const inList = placeholders(jobIds.length);
  if (sql.dialect === 'postgresql') return sql.run(`DELETE FROM search_documents WHERE job_id IN (${inList})`, jobIds);
  await sql.run(`DELETE FROM search_documents_fts WHERE rowid IN (SELECT doc_id FROM search_documents WHERE job_id IN (${inList}))`, jobIds);
  return sql.run(`DELETE FROM search_documents WHERE job_id IN (${inList})`, jobIds);
}
