/**
 * Full-text search over jobs: the jobs whose search document (their errors, payload and notable
 * events: search-documents.ts) holds every word and phrase of the text, newest job first, a keyset
 * page at a time, with the job filters of a listing (type, queue, status, run, time). Each hit says
 * which fields matched and shows a snippet of the first. The index is brought up to date first
 * (search-indexer.ts), so a search finds what was committed before it began, up to `catchUpEvents`
 * new events; past that, `indexBehind` says so and the maintenance task catches up.
 */
import type { z } from 'zod';
import type { Ledger } from '../ledger.js';
import type { JobStatus } from '../lifecycle.js';
import { parseQuery, textSearchSchema } from '../query-schemas.js';
import { toNumber, type Sql } from '../engine/sql.js';
import { jobWhere, whereClause } from '../jobs/job-queries.js';
import { catchUpSearchIndex } from './search-indexer.js';
import { documentMatch, parseSearchText, searchFields, type SearchField, type SearchTerm } from './search-query.js';
import { snippetOf } from './snippets.js';
import { textsOf } from './search-documents.js';

export interface TextSearchFilter {
  /** One job type or a list of them. */
  name?: string | string[];
  queue?: string | string[];
  status?: JobStatus | JobStatus[];
  runId?: string | string[];
  /** Jobs created at or after (epoch ms). */
  since?: number;
  /** Jobs created before (epoch ms). */
  until?: number;
  /** Search only these fields. Default all three (`error`, `payload`, `event`). */
  fields?: SearchField[];
  /** Hits per page, 1 to 1000. Default 50. */
  limit?: number;
  /** Keyset paging: only jobs after this one (newest first), the `next` of the previous page. */
  before?: { createdAt: number; id: string };
}

export interface TextSearchHit {
  jobId: string;
  /** The job type. */
  name: string;
  queue: string;
  status: JobStatus;
  createdAt: number;
  /** The fields that hold the search's words: `error` (attempt errors, failure reasons), `payload`, `event`. */
  fields: SearchField[];
  /** A piece of the first matching field's text around the first word found. */
  snippet: string;
}

export interface TextSearchResult {
  hits: TextSearchHit[];
  /** The `before` of the next page; null on the last. */
  next: { createdAt: number; id: string } | null;
  /**
   * True when the index could not take everything committed before the search: more than
   * `catchUpEvents` new events, or (PostgreSQL) a transaction open for longer than `waitMs`.
   * The newest jobs may then be missing.
   */
  indexBehind: boolean;
}

export interface TextSearchOptions {
  /** Most new events indexed before searching. Default 50,000. */
  catchUpEvents?: number;
  /**
   * PostgreSQL: how long to wait for transactions open when the search began to end, so that what
   * they committed is indexed (search-indexer.ts `catchUpSearchIndex`). Default 2000 ms.
   */
  waitMs?: number;
}

/** Searches after bringing the index up to date (see the file comment). */
export async function fullTextSearch(ledger: Ledger, text: string, filter: TextSearchFilter = {}, options: TextSearchOptions = {}): Promise<TextSearchResult> {
  const terms = parseSearchText(text);
  const checked = parseQuery(textSearchSchema, filter);
  const { caughtUp } = await catchUpSearchIndex(ledger, { maxEvents: options.catchUpEvents ?? 50_000, waitMs: options.waitMs ?? 2000 });
  const hits = await ledger.read((sql) => searchDocuments(sql, terms, checked));
  const limit = checked.limit ?? 50;
  const last = hits.at(-1);
  return { hits, next: hits.length === limit && last ? { createdAt: last.createdAt, id: last.jobId } : null, indexBehind: !caughtUp };
}

/** One page of hits, newest job first, as far as the index goes now. */
export async function searchDocuments(sql: Sql, terms: readonly SearchTerm[], filter: z.output<typeof textSearchSchema>): Promise<TextSearchHit[]> {
  const { fields, limit = 50, before, ...jobFilter } = filter;
  const match = documentMatch(sql.dialect, terms, fields);
  const jobs = jobWhere(sql, jobFilter);
  // The job conditions name jobs' columns unqualified: no document column shares a name with one.
  const conditions = [match.sql, ...jobs.conditions];
  const params = [...match.params, ...jobs.params];
  if (before) {
    conditions.push('(j.created_at, j.id) < (?, ?)');
    params.push(before.createdAt, before.id);
  }
  const from =
    sql.dialect === 'sqlite'
      ? `search_documents_fts JOIN search_documents s ON s.doc_id = search_documents_fts.rowid JOIN jobs j ON j.id = s.job_id`
      : `search_documents d JOIN jobs j ON j.id = d.job_id`;
  const texts = sql.dialect === 'sqlite' ? 'search_documents_fts' : 'd';
  const rows = await sql.all(
    `SELECT j.id, j.name, j.queue, j.status, j.created_at, ${texts}.error_text, ${texts}.payload_text, ${texts}.event_text
       FROM ${from}${whereClause(conditions)} ORDER BY j.created_at DESC, j.id DESC LIMIT ${limit}`,
    params,
  );
  return rows.map((r) => {
    const found = snippetOf(terms, textsOf(r), fields ?? searchFields);
    return {
      jobId: String(r.id),
      name: String(r.name),
      queue: String(r.queue),
      status: r.status as JobStatus,
      createdAt: toNumber(r.created_at),
      fields: found.fields,
      snippet: found.snippet,
    };
  });
}
