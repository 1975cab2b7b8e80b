/**
 * `npm run bench -- --search [--jobs N] [--backends sqlite,postgres]`: what the full-text search
 * index costs. The attempt hot path writes nothing for it (store/search/search-indexer.ts follows
 * the event log afterwards), so its cost is the indexer's: this fills a fresh ledger with N jobs
 * (bulk enqueue, payloads of a few fields) and one failed attempt's `job.attempt_failed` event for
 * every tenth, then times one catch-up of the indexer over them, in this process: documents per
 * second (wall) and the indexer process's CPU per job. On PostgreSQL the server's CPU (the
 * tsvector and the GIN index) is not in the CPU figure; the wall time includes it. Then it times a
 * search for a word of one error message.
 */
import { parseDatabaseUrl } from '../src/config.js';
import { Ledger } from '../src/store/ledger.js';
import { newId } from '../src/store/ids.js';
import { appendStandaloneJobEvent } from '../src/store/jobs/events.js';
import type { NewJob } from '../src/store/jobs/job-writes.js';
import { indexSearchDocuments } from '../src/store/search/search-indexer.js';
import { fullTextSearch } from '../src/store/search/full-text-search.js';
import type { BackendName, BenchOptions } from './options.js';
import { preparePlace } from './services.js';

export interface SearchIndexFigure {
  backend: BackendName;
  jobs: number;
  events: number;
  documents: number;
  indexSeconds: number;
  documentsPerS: number;
  /** The indexer's process CPU (user + system) per job indexed, in microseconds. */
  cpuUsPerJob: number;
  /** Milliseconds for one search of a word in a tenth of the jobs' errors, first page of 50. */
  searchMs: number;
}

const errors = ['card declined by issuer', 'gateway timeout after 30000 ms', 'mailbox unavailable', 'invoice already paid'];

export async function runSearchIndex(options: BenchOptions): Promise<SearchIndexFigure[]> {
  const figures: SearchIndexFigure[] = [];
  for (const backend of options.backends.filter((b) => b === 'sqlite' || b === 'postgres')) {
    const place = await preparePlace(backend, options.redisUrl, options.postgresAdminUrl);
    const ledger = await Ledger.open(parseDatabaseUrl(place.databaseUrl!), { migrate: true });
    try {
      process.stderr.write(`[search] ${backend}: writing ${options.jobs} jobs\n`);
      await fill(ledger, options.jobs);
      const cpuBefore = process.cpuUsage();
      const began = performance.now();
      const indexed = await indexSearchDocuments(ledger, { maxEvents: Number.MAX_SAFE_INTEGER });
      const seconds = (performance.now() - began) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const searchBegan = performance.now();
      await fullTextSearch(ledger, 'gateway timeout');
      figures.push({
        backend,
        jobs: options.jobs,
        events: indexed.events,
        documents: indexed.documents,
        indexSeconds: round(seconds, 2),
        documentsPerS: Math.round(indexed.documents / seconds),
        cpuUsPerJob: round((cpu.user + cpu.system) / options.jobs, 1),
        searchMs: round(performance.now() - searchBegan, 1),
      });
    } finally {
      await ledger.close();
      await place.dispose();
    }
  }
  return figures;
}

/** N jobs in bulk enqueues of 1,000; every tenth gets a failed attempt's event. */
async function fill(ledger: Ledger, count: number): Promise<void> {
  const now = Date.now();
  for (let start = 0; start < count; start += 1000) {
    const jobs: NewJob[] = [];
    for (let i = start; i < Math.min(count, start + 1000); i++) {
      jobs.push({
        id: newId('job'), queue: 'bench', name: 'invoice.charge', priority: 0, runId: null, idempotencyKey: null, maxAttempts: 3,
        backoff: { type: 'fixed', delayMs: 10 }, timeoutMs: null, runAt: now, createdAt: now, actor: 'bench',
        payload: { customer: { id: i, name: `customer ${i % 977}`, plan: i % 3 ? 'pro' : 'free' }, amount: (i * 37) % 10_000, note: 'monthly invoice' },
      });
    }
    await ledger.insertJobs(jobs);
    const failing = jobs.filter((_, k) => (start + k) % 10 === 0);
    await ledger.transaction(async (sql) => {
      for (const [k, job] of failing.entries()) {
        await appendStandaloneJobEvent(sql, job.id, 'job.attempt_failed', { attempt: 1, status: 'failed', error: { name: 'Error', message: errors[k % errors.length] } }, now);
      }
    });
  }
}

export function formatSearchIndex(figures: readonly SearchIndexFigure[]): string {
  // A document written twice (made at enqueue, its error added by a later batch) counts twice.
  const header = '| backend | jobs | events read | document writes | index s | writes/s | indexer CPU µs/job | search ms |';
  const rows = figures.map((f) => `| ${f.backend} | ${f.jobs} | ${f.events} | ${f.documents} | ${f.indexSeconds} | ${f.documentsPerS} | ${f.cpuUsPerJob} | ${f.searchMs} |`);
  return [header, '|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

function round(value: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}
