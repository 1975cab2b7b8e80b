/**
 * `searchJobs`: the filters no index serves (status, payload fields, error text) are checked on at
 * most `scanLimit` jobs, newest first, and the answer says where to continue; error text matches
 * literally (LIKE's wildcards escaped) and ignoring case.
 */
import { describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

describe.each(backends)('job search on %s', (dialect) => {
  /** Twelve jobs a second apart, oldest first: job 0 and job 9 are for customer 7, every third failed. */
  async function seeded() {
    const ledger = await openTestLedger(dialect);
    const base = Date.now() - 3_600_000;
    const jobs = Array.from({ length: 12 }, (_, i) => newJob({ createdAt: base + i * 1000, runAt: base + i * 1000, payload: { customer: { id: i === 0 || i === 9 ? 7 : 100 + i } } }));
    await ledger.insertJobs(jobs);
    const ids = jobs.map((j) => j.id);
    await ledger.transaction((sql) => sql.run(`UPDATE jobs SET status = 'failed' WHERE id IN (?, ?, ?, ?)`, [ids[0], ids[3], ids[6], ids[9]]));
    return { ledger, ids, jobs };
  }

  it('checks a payload filter on at most scanLimit jobs and says where to continue', async () => {
    const { ledger, ids, jobs } = await seeded();
    const where = { 'customer.id': 7 };
    // The 5 newest (jobs 11..7) hold job 9; a page of 10 is not filled there.
    const first = await ledger.searchJobs({ where, limit: 10, scanLimit: 5 });
    expect(first.jobs.map((j) => j.id)).toEqual([ids[9]]);
    expect(first.scannedTo).toEqual({ createdAt: jobs[7]!.createdAt, id: ids[7] });
    const second = await ledger.searchJobs({ where, limit: 10, scanLimit: 5, before: first.scannedTo! });
    expect(second.jobs).toEqual([]);
    expect(second.scannedTo).toEqual({ createdAt: jobs[2]!.createdAt, id: ids[2] });
    // Fewer than scanLimit jobs remain: the search reaches the oldest and says so.
    const last = await ledger.searchJobs({ where, limit: 10, scanLimit: 5, before: second.scannedTo! });
    expect(last).toEqual({ jobs: [expect.objectContaining({ id: ids[0] })], scannedTo: null });
    // A filled page continues after its last job, as listJobs does.
    const filled = await ledger.searchJobs({ status: 'failed', limit: 1, scanLimit: 5 });
    expect(filled).toEqual({ jobs: [expect.objectContaining({ id: ids[9] })], scannedTo: null });
    // Without such a filter the search is a listing.
    expect((await ledger.searchJobs({ limit: 3, scanLimit: 1 })).jobs.map((j) => j.id)).toEqual([ids[11], ids[10], ids[9]]);
    await ledger.close();
  });

  it('finds error text literally and ignoring case', async () => {
    const { ledger, ids } = await seeded();
    const error = (message: string) => JSON.stringify({ name: 'Error', message });
    await ledger.transaction(async (sql) => {
      await sql.run('UPDATE jobs SET last_error = ? WHERE id = ?', [error('Card_Declined: 100% of limit'), ids[3]]);
      await sql.run('UPDATE jobs SET last_error = ? WHERE id = ?', [error('cardXdeclined: 1000 of limit'), ids[6]]);
    });
    const found = async (errorContains: string) => (await ledger.listJobs({ errorContains })).map((j) => j.id);
    expect(await found('card_declined')).toEqual([ids[3]]);
    expect(await found('100%')).toEqual([ids[3]]);
    expect(await found('DECLINED')).toEqual([ids[6], ids[3]]);
    expect(await found('nothing like it')).toEqual([]);
    expect((await ledger.searchJobs({ errorContains: 'declined', status: 'failed', limit: 10, scanLimit: 100 })).jobs.map((j) => j.id)).toEqual([ids[6], ids[3]]);
    await ledger.close();
  });
});
