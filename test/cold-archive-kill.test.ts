/**
 * The cold archive survives SIGKILL: a real child process archiving a seeded ledger is killed at
 * random moments (and once while holding a written segment whose move has not committed), then run
 * to completion. After every kill each job is in exactly one place, live or archived with one index
 * row; at the end every job is archived once, its segment verifies and holds the job as it was, and
 * the orphans the kills left on the target are gone.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { ColdArchive } from '../src/jobs/archive/cold-archive.js';
import type { Ledger } from '../src/store/ledger.js';
import { jobRecords } from '../src/store/jobs/job-records.js';
import { toJobRow } from '../src/store/jobs/job-rows.js';
import { backends, testConfig } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { openTestLedger } from './support/ledger.js';
import { track } from './support/leak-check.js';
import { runDirectory } from './support/test-run.js';
import { seedFinishedJobs } from './support/archive-seed.js';

const childScript = fileURLToPath(new URL('../dist/test/support/fixtures/cold-archive-process.js', import.meta.url));

interface Child {
  /** Resolves with the first line matching `pattern`, or null when the process ended first. */
  line(pattern: RegExp): Promise<string | null>;
  kill(): Promise<void>;
  exited: Promise<number | null>;
  close(): Promise<void>;
  stderr(): string;
}

function startChild(config: Readonly<Config>, env: Record<string, string>): Child {
  if (!existsSync(childScript)) throw new Error(`${childScript} is missing: run \`npm run build\` first`);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [childScript], {
    env: { ...inherited, ...configEnv(config), JOBLEDGER_ARCHIVE_DIR: config.coldArchive.directory, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const wake of waiters) wake();
  });
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      alive = false;
      for (const wake of waiters) wake();
      resolve(code);
    }),
  );
  const handle: Child = {
    exited,
    stderr: () => stderr,
    line: (pattern) =>
      new Promise((resolve) => {
        const check = (): void => {
          const found = lines.find((l) => pattern.test(l));
          if (found !== undefined || !alive) {
            waiters.delete(check);
            resolve(found ?? null);
          }
        };
        waiters.add(check);
        check();
      }),
    kill: () => handle.close(),
    close: async () => {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
  track(handle, `cold archive child ${child.pid}`);
  void exited.then(() => handle.close());
  return handle;
}

/**
 * Every job's place: live ids, and archived ids with their index rows' segments. One statement, so
 * one snapshot: on PostgreSQL a COMMIT the killed child sent just before dying can land between two
 * reads, which would show a job in both places that no single moment held.
 */
async function places(ledger: Ledger): Promise<{ live: string[]; indexed: string[]; segments: Map<string, string> }> {
  const rows = await ledger.read((sql) =>
    sql.all(`SELECT id, NULL AS segment_id FROM jobs UNION ALL SELECT job_id AS id, segment_id FROM archived_jobs`),
  );
  const live = rows.filter((r) => r.segment_id === null).map((r) => r.id as string);
  const archived = rows.filter((r) => r.segment_id !== null);
  return { live, indexed: archived.map((r) => r.id as string), segments: new Map(archived.map((r) => [r.id as string, r.segment_id as string])) };
}

function expectEachOnce(all: readonly string[], { live, indexed }: { live: string[]; indexed: string[] }, when: string): void {
  const liveSet = new Set(live);
  expect(indexed.filter((id) => liveSet.has(id)), `${when}: jobs both live and archived`).toEqual([]);
  expect([...live, ...indexed].sort(), `${when}: every job exactly once`).toEqual([...all].sort());
}

describe.each(backends)('cold archive under SIGKILL on %s', (dialect) => {
  it('leaves every job in exactly one place after kills at random moments, and completes on a rerun', async () => {
    const directory = join(runDirectory(), 'archive');
    const config = await testConfig(dialect, { JOBLEDGER_ARCHIVE_DIR: directory });
    const ledger = await openTestLedger(dialect, config.database.url);
    const ids = await seedFinishedJobs(ledger, 120, { ageDays: 1 });
    const before = await ledger.read(async (sql) => jobRecords(sql, (await sql.all('SELECT * FROM jobs')).map((r) => toJobRow(sql.dialect, r))));

    // Killed holding a written segment whose move never committed: an orphan on the target.
    const holding = startChild(config, { ARCHIVE_HOLD_AT: '2' });
    expect(await holding.line(/^HOLDING$/), holding.stderr()).not.toBeNull();
    await holding.kill();
    expectEachOnce(ids, await places(ledger), 'after the kill while holding');

    const delays: number[] = [];
    for (let round = 0; round < 6; round++) {
      const child = startChild(config, { ARCHIVE_SEGMENT_JOBS: String(3 + round) });
      // After its first step, at a random moment within the next few segments' work.
      await child.line(/^(WRITTEN|COMMITTED|DONE)/);
      const delay = Math.floor(Math.random() * 60);
      delays.push(delay);
      await sleep(delay);
      await child.kill();
      expectEachOnce(ids, await places(ledger), `after kill ${round} (delays ${delays.join(', ')})`);
    }

    const last = startChild(config, {});
    const done = await last.line(/^DONE /);
    expect(done, last.stderr()).not.toBeNull();
    expect(await last.exited).toBe(0);

    const final = await places(ledger);
    expectEachOnce(ids, final, 'at the end');
    expect(final.live).toEqual([]);
    const archive = new ColdArchive(ledger, config);
    const checks = await archive.verify();
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    const active = await archive.list({ status: 'active' });
    expect(new Set(final.segments.values())).toEqual(new Set(active.map((s) => s.id)));
    for (const record of before) expect(await archive.find(record.job.id)).toEqual(record);
    // The final run (orphan grace 0) removed what the kills left: only active segments' files remain.
    expect(readdirSync(directory).sort()).toEqual(active.flatMap((s) => [`${s.id}.manifest.json`, `${s.id}.ndjson.gz`]).sort());
    await archive.close();
    await ledger.close();
  });
});
