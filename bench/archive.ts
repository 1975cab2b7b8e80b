/**
 * Cold archive throughput: seeds a ledger with N jobs (seed-ledger.ts: about three attempts and four
 * events each, 30 days of history), archives every finished one into segments in a temporary
 * directory, then restores every segment, and prints jobs/s for both with the segment sizes.
 *
 *   npm run bench:archive -- --jobs 20000 [--database-url postgres://...] [--segment-jobs 1000]
 *
 * Default database: a fresh SQLite file in a temporary directory. A PostgreSQL database given by
 * URL should be empty (it is migrated first).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { ColdArchive } from '../src/jobs/archive/cold-archive.js';
import { Ledger } from '../src/store/ledger.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '20000' }, 'database-url': { type: 'string' }, 'segment-jobs': { type: 'string', default: '1000' } } });
  const scratch = mkdtempSync(join(tmpdir(), 'jobledger-bench-archive-'));
  const url = values['database-url'] ?? `sqlite:${join(scratch, 'ledger.sqlite')}`;
  const seeder = fileURLToPath(new URL('./seed-ledger.js', import.meta.url));
  execFileSync(process.execPath, [seeder, '--jobs', values.jobs, '--database-url', url], { stdio: ['ignore', 'ignore', 'inherit'] });

  const config = loadConfig({}, { DATABASE_URL: url, JOBLEDGER_ARCHIVE_DIR: join(scratch, 'archive'), LOG_LEVEL: 'silent' });
  const ledger = await Ledger.open(config.database);
  const archive = new ColdArchive(ledger, config);
  try {
    let began = performance.now();
    const moved = await archive.run({ policy: { defaultDays: 0 }, segmentJobs: Number(values['segment-jobs']), limit: 10_000_000 });
    const archiveSeconds = (performance.now() - began) / 1000;
    const segments = await archive.list({ status: 'active', limit: 1_000_000 });
    const bytes = segments.reduce((n, s) => n + s.bytes, 0);

    began = performance.now();
    let restored = 0;
    for (const segment of segments) restored += (await archive.restore({ segmentId: segment.id, actor: 'bench', source: 'library' })).jobs;
    const restoreSeconds = (performance.now() - began) / 1000;

    console.log(JSON.stringify({
      dialect: config.database.dialect,
      seededJobs: Number(values.jobs),
      archived: { jobs: moved.jobs, attempts: moved.attempts, events: moved.events, segments: moved.segments, seconds: round(archiveSeconds), jobsPerSecond: Math.round(moved.jobs / archiveSeconds) },
      segmentBytes: { total: bytes, perJob: round(bytes / Math.max(1, moved.jobs)) },
      restored: { jobs: restored, seconds: round(restoreSeconds), jobsPerSecond: Math.round(restored / restoreSeconds) },
    }));
  } finally {
    await archive.close();
    await ledger.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
