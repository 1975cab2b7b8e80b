/**
 * SQLite: the hot path writes on a connection of its own to a database file, and on the ORM's one
 * connection to an in-memory database (which no other connection can see). Either way, what one
 * path commits the other reads.
 */
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../src/config.js';
import { Ledger } from '../src/store/ledger.js';
import { freshDatabaseUrl } from './support/backends.js';
import { track } from './support/leak-check.js';
import { newJob } from './support/ledger.js';

const worker = { workerId: 'w', host: 'h', pid: 1 };

async function startAndComplete(ledger: Ledger): Promise<void> {
  const jobs = Array.from({ length: 4 }, () => newJob());
  await ledger.insertJobs(jobs);
  for (const job of jobs.slice(0, 3)) {
    const begun = await ledger.beginAttempt(job.id, worker);
    if (begun.kind !== 'started') throw new Error(`expected a start, got ${begun.kind}`);
    await ledger.recordOutcome(begun.attempt, { type: 'completed', result: { id: job.id } });
  }
  // Read back through the ORM; then a change made through the ORM, seen by the hot path.
  const counts = await ledger.countJobsByStatus();
  expect(counts).toMatchObject({ completed: 3 });
  const cancelled = await ledger.cancelJob({ jobId: jobs[3]!.id, actor: 'test', reason: 'not needed', now: Date.now() });
  expect(cancelled.job.status).toBe('cancelled');
  const late = await ledger.beginAttempt(jobs[3]!.id, worker);
  expect(late.kind).toBe('final');
}

describe('SQLite connections', () => {
  it('an in-memory ledger: the hot path and the ORM share the one connection that holds it', async () => {
    const ledger = track(await Ledger.open(parseDatabaseUrl('sqlite::memory:'), { migrate: true }), 'Ledger');
    await startAndComplete(ledger);
    await ledger.close();
  });

  it('a file ledger: the hot path on its own connection, the ORM on its, each reading what the other committed', async () => {
    const ledger = track(await Ledger.open(parseDatabaseUrl(await freshDatabaseUrl('sqlite')), { migrate: true }), 'Ledger');
    await startAndComplete(ledger);
    await ledger.close();
  });
});
