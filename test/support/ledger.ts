/** A bare Ledger on a fresh (or given) database, and job rows to insert into it, for store-level tests. */
import { parseDatabaseUrl, type DatabaseDialect } from '../../src/config.js';
import { newId } from '../../src/store/ids.js';
import type { NewJob } from '../../src/store/jobs/job-writes.js';
import { Ledger } from '../../src/store/ledger.js';
import { freshDatabaseUrl } from './backends.js';
import { track } from './leak-check.js';

/** A migrated Ledger on `url`, or on a fresh database of `dialect`; the leak check closes it if the test does not. */
export async function openTestLedger(dialect: DatabaseDialect, url?: string): Promise<Ledger> {
  return track(await Ledger.open(parseDatabaseUrl(url ?? (await freshDatabaseUrl(dialect))), { migrate: true }), 'Ledger');
}

/** A job to insert: queue `q`, type `n`, an empty payload, created now; `overrides` replace any of it. */
export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  const now = Date.now();
  return {
    id: newId('job'), queue: 'q', name: 'n', payload: {}, priority: 0, runId: null, idempotencyKey: null,
    maxAttempts: 3, backoff: { type: 'fixed', delayMs: 10 }, timeoutMs: null, runAt: now, createdAt: now, actor: 'test',
    ...overrides,
  };
}
