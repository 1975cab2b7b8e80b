/**
 * Full-text search across the cold archive: an archived job leaves the search (its document goes with
 * its rows), and restoring its segment writes its document again in the restore's transaction, the
 * same texts as before, so the same search finds it with the same fields and snippet. The indexer
 * reading the restored events afterwards changes nothing.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobLedger } from '../src/jobledger.js';
import type { Ledger } from '../src/store/ledger.js';
import type { NewJob } from '../src/store/jobs/job-writes.js';
import { readDocuments } from '../src/store/search/search-documents.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';
import { newJob } from './support/ledger.js';
import { runDirectory } from './support/test-run.js';

const worker = { workerId: 'w-1', host: 'host-1', pid: 1 };
const dayMs = 86_400_000;

async function finish(ledger: Ledger, job: NewJob, error: string | null): Promise<void> {
  const begun = await ledger.beginAttempt(job.id, worker);
  if (begun.kind !== 'started') throw new Error(`expected the attempt to start, got ${begun.kind}`);
  if (error === null) await ledger.recordOutcome(begun.attempt, { type: 'completed', result: { ok: true } });
  else await ledger.recordOutcome(begun.attempt, { type: 'failed', attemptStatus: 'failed', error: { name: 'PaymentError', message: error, code: 'card_declined' }, reason: 'attempts exhausted' });
}

const documents = (jl: JobLedger, ids: readonly string[]) => jl.ledger.read((sql) => readDocuments(sql, ids));

describe.each(backends)('cold archive and full-text search on %s', (dialect) => {
  it('drops an archived job from the search and makes it searchable again, as before, when its segment is restored', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [], env: { JOBLEDGER_ARCHIVE_DIR: join(runDirectory(), 'archive'), JOBLEDGER_ARCHIVE_AFTER_DAYS: '7' } });
    const base = Date.now() - 60_000;
    const jobs = [
      newJob({ name: 'invoice.charge', createdAt: base, runAt: base, payload: { customer: { name: 'Ada Lovelace' }, amount: 4200 } }),
      newJob({ name: 'invoice.charge', createdAt: base + 1, runAt: base + 1, payload: { customer: { name: 'Grace Hopper' }, amount: 100 } }),
      newJob({ name: 'email.send', createdAt: base + 2, runAt: base + 2, payload: { to: 'ada@example.com', subject: 'Your card was declined' } }),
    ];
    await jl.ledger.insertJobs(jobs);
    await finish(jl.ledger, jobs[0]!, 'Card declined by issuer: insufficient funds');
    await finish(jl.ledger, jobs[1]!, null);
    await finish(jl.ledger, jobs[2]!, 'Mailbox unavailable');
    const ids = jobs.map((j) => j.id);

    const declined = await jl.search('declined');
    expect(declined.hits.map((h) => [h.jobId, h.fields])).toEqual([[ids[2], ['error', 'payload']], [ids[0], ['error']]]);
    const grace = await jl.search('Grace');
    expect(grace.hits.map((h) => h.jobId)).toEqual([ids[1]]);
    const before = await documents(jl, ids);
    expect(before.size).toBe(3);

    // Archived (their finish is more than the archive's 7 days before `now`): out of the search.
    expect(await jl.archive.run({ now: Date.now() + 8 * dayMs })).toMatchObject({ jobs: 3, segments: 1 });
    expect((await documents(jl, ids)).size).toBe(0);
    expect((await jl.search('declined')).hits).toEqual([]);
    expect((await jl.search('Grace')).hits).toEqual([]);

    // Restored: the documents are back in the restore's own transaction, before any indexer ran.
    const [segment] = await jl.archive.list();
    expect(await jl.archive.restore({ segmentId: segment!.id })).toMatchObject({ restored: true, jobs: 3 });
    expect(await documents(jl, ids)).toEqual(before);

    // The same searches find them with the same fields and snippets; the indexer (run by each search
    // first) reading the restored events changed no document.
    expect(await jl.search('declined')).toEqual(declined);
    expect(await jl.search('Grace')).toEqual(grace);
    expect(await documents(jl, ids)).toEqual(before);
    await jl.close();
  });
});
