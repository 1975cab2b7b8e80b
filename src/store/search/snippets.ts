/**
 * What a search hit shows: which fields of its document hold the search's words, and a snippet of
 * the first of them around the first word found. Computed here from the texts, the same on both
 * dialects (FTS5's `snippet()` and PostgreSQL's `ts_headline` differ, and the latter re-parses the
 * whole text per row).
 */
import type { DocumentTexts } from './search-documents.js';
import type { SearchField, SearchTerm } from './search-query.js';

/** Characters of context shown either side of the word found. */
const context = 60;

/** Lower case without diacritics, as both tokenizers compare words. Keeps the length of ordinary text. */
function fold(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The words of the terms, folded. */
function wordsOf(terms: readonly SearchTerm[]): string[] {
  return terms.flatMap((t) => fold(t.text).split(/[^\p{L}\p{N}]+/u)).filter(Boolean);
}

export function snippetOf(terms: readonly SearchTerm[], texts: DocumentTexts, searched: readonly SearchField[]): { fields: SearchField[]; snippet: string } {
  const words = wordsOf(terms);
  const fields: SearchField[] = [];
  let snippet = '';
  for (const field of searched) {
    const text = texts[field];
    if (!text) continue;
    const folded = fold(text);
    // Folding can change a text's length (a ligature); then positions are only approximately the original's.
    const at = Math.min(...words.map((w) => folded.indexOf(w)).filter((i) => i >= 0));
    if (!Number.isFinite(at)) continue;
    fields.push(field);
    if (!snippet) snippet = around(text, Math.min(at, text.length));
  }
  if (fields.length === 0) {
    // The database matched what this cannot see (PostgreSQL's parser keeps e.g. an e-mail address
    // as one word): the first field with text, from its start.
    const field = searched.find((f) => texts[f]);
    return { fields: field ? [field] : [], snippet: field ? around(texts[field], 0) : '' };
  }
  return { fields, snippet };
}

function around(text: string, at: number): string {
  const start = Math.max(0, at - context);
  const end = Math.min(text.length, at + context * 2);
  const piece = text.slice(start, end).replace(/\s+/g, ' ').trim();
  return `${start > 0 ? '…' : ''}${piece}${end < text.length ? '…' : ''}`;
}
