/**
 * Full-text search (store/search/): the indexer follows the event log into one document per job
 * (payload, attempt errors, notable events), resumes where it stopped without indexing anything
 * twice, and the retention prune deletes the documents of the jobs it deletes. Searches find a job
 * by a word of its error or payload, by a phrase, within the job filters, a keyset page at a time;
 * hostile text never reaches either database as query syntax.
 */
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../src/errors.js';
import { fullTextSearch } from '../src/store/search/full-text-search.js';
import { catchUpSearchIndex, indexSearchDocuments } from '../src/store/search/search-indexer.js';
import { pruneByRetention } from '../src/store/maintenance/prune.js';
import type { Ledger } from '../src/store/ledger.js';
import { Ledger as LedgerClass } from '../src/store/ledger.js';
import { parseDatabaseUrl } from '../src/config.js';
import type { NewJob } from '../src/store/jobs/job-writes.js';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';
import { track } from './support/leak-check.js';

const worker = { workerId: 'w-1', host: 'host-1', pid: 1 };

/** Runs one attempt of `job` to a final failure with `message`. */
async function failJob(ledger: Ledger, job: NewJob, message: string, code?: string): Promise<void> {
  const begun = await ledger.beginAttempt(job.id, worker);
  if (begun.kind !== 'started') throw new Error(`expected the attempt to start, got ${begun.kind}`);
  const error = { name: 'PaymentError', message, ...(code ? { code } : {}) };
  await ledger.recordOutcome(begun.attempt, { type: 'failed', attemptStatus: 'failed', error, reason: 'attempts exhausted' });
}

async function completeJob(ledger: Ledger, job: NewJob): Promise<void> {
  const begun = await ledger.beginAttempt(job.id, worker);
  if (begun.kind !== 'started') throw new Error(`expected the attempt to start, got ${begun.kind}`);
  await ledger.recordOutcome(begun.attempt, { type: 'completed', result: { ok: true } });
}

const ids = async (ledger: Ledger, text: string, filter = {}) => (await fullTextSearch(ledger, text, filter)).hits.map((h) => h.jobId);

async function documentCount(ledger: Ledger): Promise<number> {
  const [row] = await ledger.read((sql) => sql.all('SELECT COUNT(*) AS n FROM search_documents'));
  return Number(row!.n);
}

describe.each(backends)('full-text search on %s', (dialect) => {
  /** Five jobs a second apart, oldest first, with payloads; two failed, one completed. */
  async function seeded(ledger: Ledger) {
    const base = Date.now() - 3_600_000;
    const at = (i: number) => ({ createdAt: base + i * 1000, runAt: base + i * 1000 });
    const jobs = [
      newJob({ ...at(0), name: 'invoice.charge', payload: { customer: { name: 'Ada Lovelace', plan: 'pro' }, amount: 4200 } }),
      newJob({ ...at(1), name: 'invoice.charge', payload: { customer: { name: 'Grace Hopper', plan: 'free' }, amount: 100 } }),
      newJob({ ...at(2), name: 'email.send', queue: 'emails', payload: { to: 'ada@example.com', subject: 'Your card was declined' } }),
      newJob({ ...at(3), name: 'invoice.charge', payload: { customer: { name: 'Alan Turing', plan: 'pro' }, amount: 990 } }),
      newJob({ ...at(4), name: 'report.daily', queue: 'reports', payload: { day: '2026-12-01' } }),
    ];
    await ledger.insertJobs(jobs);
    await failJob(ledger, jobs[0]!, 'Card declined by issuer: insufficient funds', 'card_declined');
    await failJob(ledger, jobs[3]!, 'Issuer unavailable, card not charged');
    await completeJob(ledger, jobs[1]!);
    return jobs.map((j) => j.id);
  }

  it('finds a failed job by a word of its error, a payload word, a phrase, a prefix, within filters', async () => {
    const ledger = await openTestLedger(dialect);
    const [ada, grace, mail, alan, report] = await seeded(ledger);

    // The search indexes what is new first: nothing ran the indexer before.
    const declined = await fullTextSearch(ledger, 'declined');
    expect(declined.hits.map((h) => h.jobId)).toEqual([mail, ada]);
    expect(declined.indexBehind).toBe(false);
    expect(declined.hits[1]).toMatchObject({ jobId: ada, name: 'invoice.charge', queue: 'q', status: 'failed', fields: ['error'] });
    expect(declined.hits[1]!.snippet).toContain('Card declined by issuer');
    expect(declined.hits[0]).toMatchObject({ jobId: mail, status: 'pending', fields: ['payload'] });

    expect(await ids(ledger, 'insufficient FUNDS')).toEqual([ada]); // words ANDed, any case
    expect(await ids(ledger, 'card_declined')).toEqual([ada]); // the error's code
    expect(await ids(ledger, 'Grace')).toEqual([grace]); // a payload word
    expect(await ids(ledger, '4200')).toEqual([ada]); // payload numbers too
    expect(await ids(ledger, 'pro')).toEqual([alan, ada]);
    expect(await ids(ledger, '"card declined"')).toEqual([ada]); // the phrase, in that order
    expect(await ids(ledger, '"declined card"')).toEqual([]);
    expect(await ids(ledger, 'card issuer')).toEqual([alan, ada]); // both words, anywhere in the job's text
    expect(await ids(ledger, 'unavail*')).toEqual([alan]); // a prefix
    expect(await ids(ledger, 'lovelace turing')).toEqual([]);

    // Filters: fields, job type, queue, status, creation time.
    expect(await ids(ledger, 'declined', { fields: ['error'] })).toEqual([ada]);
    expect(await ids(ledger, 'declined', { fields: ['payload'] })).toEqual([mail]);
    expect(await ids(ledger, 'declined', { name: 'invoice.charge' })).toEqual([ada]);
    expect(await ids(ledger, 'declined', { queue: 'emails' })).toEqual([mail]);
    expect(await ids(ledger, 'card', { status: 'failed' })).toEqual([alan, ada]);
    const mailRow = await ledger.getJob(mail!);
    expect(await ids(ledger, 'declined', { since: mailRow.createdAt })).toEqual([mail]);
    expect(await ids(ledger, 'declined', { until: mailRow.createdAt })).toEqual([ada]);
    expect(await ids(ledger, '2026')).toEqual([report]);

    // Keyset pages: one hit a page, newest first, no repeats.
    const first = await fullTextSearch(ledger, 'card', { limit: 1 });
    expect(first.hits.map((h) => h.jobId)).toEqual([alan]);
    const second = await fullTextSearch(ledger, 'card', { limit: 1, before: first.next! });
    expect(second.hits.map((h) => h.jobId)).toEqual([mail]);
    const third = await fullTextSearch(ledger, 'card', { limit: 1, before: second.next! });
    expect(third.hits.map((h) => h.jobId)).toEqual([ada]);
    expect((await fullTextSearch(ledger, 'card', { limit: 1, before: third.next! })).hits).toEqual([]);
    await ledger.close();
  });

  it('answers hostile text with results or a typed error, never a database error', async () => {
    const ledger = await openTestLedger(dialect);
    const [ada, , mail] = await seeded(ledger);
    const hostile = [
      '"foo', 'a AND (', 'declined OR', 'NOT declined', 'NEAR(card declined)', 'error_text: card', '{error_text}: card', "'; DROP TABLE jobs; --",
      'card & declined', 'card | !declined', 'card:*', 'declined:A', '\\', '^card', 'card +declined', '"card" "', 'declined*"', '*', 'ca*d',
      '"card declined', 'declined -card', '(((', 'a\u200bb', '😀 declined', 'déclined',
    ];
    for (const text of hostile) {
      try {
        const result = await fullTextSearch(ledger, text);
        expect(Array.isArray(result.hits), text).toBe(true);
      } catch (error) {
        expect(error, text).toBeInstanceOf(InvalidOptionError);
      }
    }
    // What the words say still counts: operators are words, a stray quote ends a phrase.
    expect(await ids(ledger, '"card declined')).toEqual([ada]);
    expect(await ids(ledger, 'declined (')).toEqual([mail, ada]);
    // Text with no word at all, or none, is refused plainly.
    for (const text of ['', '   ', '"', '((( )))', '* & |', 'x'.repeat(501)]) {
      await expect(fullTextSearch(ledger, text), JSON.stringify(text)).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    }
    await expect(fullTextSearch(ledger, 'card', { fields: ['stack' as 'error'] })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    await expect(fullTextSearch(ledger, 'card', { limit: 0 })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    // The tables are intact.
    expect(await ledger.countRows('jobs')).toBe(5);
    await ledger.close();
  });

  it('resumes after a restart where it stopped, indexing nothing twice', async () => {
    const url = await freshDatabaseUrl(dialect);
    const ledger = await openTestLedger(dialect, url);
    const jobs = Array.from({ length: 7 }, (_, i) => newJob({ payload: { note: `batch one item ${i}` } }));
    await ledger.insertJobs(jobs);
    await failJob(ledger, jobs[0]!, 'first failure');
    // Two events per batch, stopped after four: a partial index. (Through the catch-up a search
    // uses: on PostgreSQL the log is readable once other sessions' older transactions have ended.)
    const partial = await catchUpSearchIndex(ledger, { batchSize: 2, maxEvents: 4, waitMs: 20_000 });
    expect(partial).toMatchObject({ events: 4, caughtUp: false });
    expect(await documentCount(ledger)).toBe(4);
    await ledger.close();

    // Another process (a new Ledger) goes on from there, beside a concurrent search.
    const reopened = track(await LedgerClass.open(parseDatabaseUrl(url)), 'Ledger');
    const more = [newJob({ payload: { note: 'batch two' } })];
    await reopened.insertJobs(more);
    const [rest, searched] = await Promise.all([indexSearchDocuments(reopened, { batchSize: 3 }), fullTextSearch(reopened, 'batch')]);
    expect(rest.caughtUp).toBe(true);
    // On PostgreSQL either pass may have stopped at a transaction open elsewhere on the shared server: wait it out.
    expect((await catchUpSearchIndex(reopened, { maxEvents: 1_000_000, waitMs: 20_000 })).caughtUp).toBe(true);
    // 7 enqueued + 2 failure events + 1 enqueued, each read once between the two indexers.
    const [position] = await reopened.read((sql) => sql.all(`SELECT events FROM search_positions WHERE name = 'events'`));
    expect(Number(position!.events)).toBe(10);
    expect(await documentCount(reopened)).toBe(8);
    expect(searched.hits.length).toBeGreaterThanOrEqual(7);
    expect(await ids(reopened, 'batch')).toHaveLength(8);
    // Each document has its failure once, though the job's error events were read in another batch.
    const [doc] = await reopened.read((sql) =>
      sql.dialect === 'sqlite'
        ? sql.all('SELECT f.error_text FROM search_documents s JOIN search_documents_fts f ON f.rowid = s.doc_id WHERE s.job_id = ?', [jobs[0]!.id])
        : sql.all('SELECT error_text FROM search_documents WHERE job_id = ?', [jobs[0]!.id]),
    );
    expect(doc!.error_text).toBe('PaymentError: first failure\nattempts exhausted');
    // Nothing new: no batch, no change.
    expect(await indexSearchDocuments(reopened)).toEqual({ events: 0, documents: 0, batches: 0, caughtUp: true });
    await reopened.close();
  });

  it('prune deletes the documents of the jobs it deletes', async () => {
    const ledger = await openTestLedger(dialect);
    const [ada, grace, mail, alan] = await seeded(ledger);
    // Catching up, not one indexing pass: on PostgreSQL a transaction open anywhere on the shared
    // server (another test file's) holds the readable log back until it ends.
    expect((await catchUpSearchIndex(ledger, { maxEvents: 1_000_000, waitMs: 10_000 })).caughtUp).toBe(true);
    expect(await documentCount(ledger)).toBe(5);
    const longAgo = Date.now() - 40 * 86_400_000;
    await ledger.transaction((sql) =>
      sql.run('UPDATE jobs SET created_at = ?, updated_at = ?, finished_at = ? WHERE id IN (?, ?)', [longAgo, longAgo, longAgo, ada, grace]),
    );
    const dry = await pruneByRetention(ledger, { policy: { defaultDays: 30 }, dryRun: true });
    expect(dry).toMatchObject({ jobs: 2, searchDocuments: 2 });
    const counts = await pruneByRetention(ledger, { policy: { defaultDays: 30 } });
    expect(counts).toMatchObject({ jobs: 2, searchDocuments: 2 });
    expect(await documentCount(ledger)).toBe(3);
    expect(await ids(ledger, 'card')).toEqual([alan, mail]);
    // SQLite: the FTS table lost the rows too, not only the map.
    if (dialect === 'sqlite') {
      const [row] = await ledger.read((sql) => sql.all('SELECT COUNT(*) AS n FROM search_documents_fts'));
      expect(Number(row!.n)).toBe(3);
    }
    await ledger.close();
  });
});
