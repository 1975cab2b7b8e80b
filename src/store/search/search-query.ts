/**
 * What a user types into a search, taken apart in JavaScript and handed to each database as bound
 * values, never as query syntax: words (all must match), "quoted phrases" (the words in that
 * order), and `word*` (words starting with it). FTS5's and tsquery's own operators (AND, OR, NEAR,
 * parentheses, `:`, `!`) are plain words here, so no input can make either database report a
 * syntax error: a stray quote ends the text as a phrase, and a term with no letter or digit is
 * dropped (it could match nothing). Text with no term left is a typed error.
 */
import { InvalidOptionError } from '../../errors.js';
import type { DatabaseDialect } from '../../config.js';

/** Where a job's text comes from: its attempts' errors, its payload, or its other events. */
export const searchFields = ['error', 'payload', 'event'] as const;
export type SearchField = (typeof searchFields)[number];

/** The document column of each field, on both dialects. */
export const fieldColumns: Readonly<Record<SearchField, string>> = { error: 'error_text', payload: 'payload_text', event: 'event_text' };

/** PostgreSQL's tsvector weight of each field (migration SearchIndex). */
export const fieldWeights: Readonly<Record<SearchField, 'A' | 'B' | 'C'>> = { error: 'A', payload: 'B', event: 'C' };

export interface SearchTerm {
  /** A single word with a trailing `*`: any word that starts with it. */
  prefix: boolean;
  /** The term's text: one word, or a phrase's words. */
  text: string;
}

/** Longest search text accepted. */
export const maxSearchTextLength = 500;
/** Most terms one search may have. */
const maxTerms = 32;

const hasWord = /[\p{L}\p{N}]/u;
const prefixWord = /^[\p{L}\p{N}]+\*$/u;

/** The terms of `raw`; `option` names the input in the error (`text`, or the console's `error`). */
export function parseSearchText(raw: unknown, option = 'text'): SearchTerm[] {
  const expected = `words or "quoted phrases" to search for (1 to ${maxSearchTextLength} characters, at least one letter or digit)`;
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > maxSearchTextLength || raw.includes('\u0000')) {
    throw new InvalidOptionError(option, expected, raw);
  }
  const terms: SearchTerm[] = [];
  // A phrase runs to its closing quote or, unclosed, to the end; a word runs to the next space or quote.
  for (const match of raw.matchAll(/"([^"]*)"?|([^\s"]+)/g)) {
    const phrase = match[1];
    const word = match[2];
    const text = (phrase ?? word ?? '').trim().replace(/\s+/g, ' ');
    if (!hasWord.test(text)) continue;
    terms.push({ prefix: phrase === undefined && prefixWord.test(text), text: phrase === undefined && prefixWord.test(text) ? text.slice(0, -1) : text });
  }
  if (terms.length === 0) throw new InvalidOptionError(option, expected, raw);
  if (terms.length > maxTerms) throw new InvalidOptionError(option, `at most ${maxTerms} words or phrases`, `${terms.length} of them`);
  return terms;
}

/**
 * SQLite: the FTS5 query of `terms`, each a string (its double quotes doubled), so FTS5 reads it as
 * one phrase of its tokens, never as syntax; within `fields` only, if given.
 */
export function fts5Query(terms: readonly SearchTerm[], fields?: readonly SearchField[]): string {
  const phrases = terms.map((t) => `"${t.text.replaceAll('"', '""')}"${t.prefix ? '*' : ''}`).join(' AND ');
  if (!fields || fields.length === searchFields.length) return phrases;
  return `{${fields.map((f) => fieldColumns[f]).join(' ')}} : (${phrases})`;
}

/**
 * PostgreSQL: a tsquery expression over bound values, one `?` per term: `phraseto_tsquery` parses a
 * word or phrase as text (its operators are just characters there), and a prefix word, made only of
 * letters and digits, gains `:*` in `to_tsquery`.
 */
export function tsqueryOf(terms: readonly SearchTerm[]): { sql: string; params: string[] } {
  const parts = terms.map((t) => (t.prefix ? `to_tsquery('simple', ? || ':*')` : `phraseto_tsquery('simple', ?)`));
  return { sql: `(${parts.join(' && ')})`, params: terms.map((t) => (t.prefix ? t.text.toLowerCase() : t.text)) };
}

/**
 * The condition that a search document matches `terms` (within `fields`, if given), and its
 * parameters. SQLite: on the FTS5 table aliased `f`; PostgreSQL: on `search_documents` aliased `d`
 * (restricted to the fields' weights with `ts_filter` after the GIN index found the candidates).
 */
export function documentMatch(dialect: DatabaseDialect, terms: readonly SearchTerm[], fields?: readonly SearchField[]): { sql: string; params: unknown[] } {
  if (dialect === 'sqlite') return { sql: 'search_documents_fts MATCH ?', params: [fts5Query(terms, fields)] };
  const query = tsqueryOf(terms);
  if (!fields || fields.length === searchFields.length) return { sql: `d.search_vector @@ ${query.sql}`, params: query.params };
  const weights = fields.map((f) => fieldWeights[f].toLowerCase()).join('');
  return {
    sql: `d.search_vector @@ ${query.sql} AND ts_filter(d.search_vector, '{${weights}}') @@ ${query.sql}`,
    params: [...query.params, ...query.params],
  };
}

/**
 * `id IN (...)`: the jobs whose search document matches, for a job listing's WHERE clause (the
 * console's error filter, job-queries.ts).
 */
export function jobsMatching(dialect: DatabaseDialect, terms: readonly SearchTerm[], fields?: readonly SearchField[]): { sql: string; params: unknown[] } {
  const match = documentMatch(dialect, terms, fields);
  const documents =
    dialect === 'sqlite'
      ? `SELECT s.job_id FROM search_documents_fts JOIN search_documents s ON s.doc_id = search_documents_fts.rowid WHERE ${match.sql}`
      : `SELECT d.job_id FROM search_documents d WHERE ${match.sql}`;
  return { sql: `id IN (${documents})`, params: match.params };
}
