/**
 * Three real processes run the same maintenance schedule (a test task every second) against the same
 * database: every tick gets exactly one `maintenance_runs` row, naming one claimant, and what each
 * process says it claimed adds up to the rows.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { listMaintenanceRuns } from '../src/store/maintenance/maintenance-runs.js';
import { backends } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';

const script = fileURLToPath(new URL('../dist/test/support/fixtures/maintenance-process.js', import.meta.url));

interface MaintenanceChild {
  claimant: string;
  lines: string[];
  exited: Promise<number | null>;
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
  close(): Promise<void>;
}

async function startMaintenanceChild(config: Readonly<Config>): Promise<MaintenanceChild> {
  if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [script], { env: { ...inherited, ...configEnv(config) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines: string[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => lines.push(line));
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      alive = false;
      resolve(code);
    }),
  );
  const handle = track(
    {
      claimant: '',
      lines,
      exited,
      stderr: () => stderr,
      kill: (signal: NodeJS.Signals) => void child.kill(signal),
      close: async () => {
        if (alive) child.kill('SIGKILL');
        await exited;
      },
    },
    `maintenance process ${child.pid}`,
  );
  const ready = await waitFor(async () => {
    if (!alive) throw new Error(`maintenance process exited early; stderr:\n${stderr}`);
    return Promise.resolve(lines.find((l) => l.startsWith('READY ')));
  }, 'the maintenance process to be READY', 30_000);
  handle.claimant = ready.slice('READY '.length);
  return handle;
}

describe.each(backends)('maintenance claims across processes (%s)', (dialect) => {
  it('runs each tick of a schedule exactly once across three processes', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    const children: MaintenanceChild[] = [];
    try {
      children.push(...(await Promise.all([0, 1, 2].map(() => startMaintenanceChild(jl.config)))));
      // Let them race for a few ticks after all three are up.
      const since = Date.now();
      await waitFor(async () => {
        const runs = await listMaintenanceRuns(jl.ledger, { task: 'test-tick', status: 'succeeded', limit: 1000 });
        return runs.filter((r) => r.tick > since).length >= 8 ? true : undefined;
      }, 'eight ticks claimed after all three processes started', 30_000);

      for (const child of children) child.kill('SIGTERM');
      const codes = await Promise.all(children.map((c) => c.exited));
      expect(codes, children.map((c) => c.stderr()).join('\n')).toEqual([0, 0, 0]);

      const runs = await listMaintenanceRuns(jl.ledger, { task: 'test-tick', limit: 10_000 });
      const ticks = runs.map((r) => r.tick);
      expect(new Set(ticks).size).toBe(ticks.length); // one row per tick
      const claimants = children.map((c) => c.claimant);
      expect(new Set(claimants).size).toBe(3);
      for (const run of runs) {
        expect(claimants).toContain(run.claimedBy); // each row names one of the processes
        expect(run.status).not.toBe('running'); // stop() awaited every run in flight
      }

      // What each process says it claimed is exactly the succeeded rows naming it.
      const perProcess = children.map((child) => {
        const claimed = child.lines.filter((l) => l.startsWith('CLAIM ')).map((l) => Number(l.slice('CLAIM '.length)));
        const stopped = child.lines.find((l) => l.startsWith('STOPPED '));
        expect(Number(stopped?.slice('STOPPED '.length))).toBe(claimed.length);
        const rows = runs.filter((r) => r.claimedBy === child.claimant && r.status === 'succeeded').map((r) => r.tick);
        expect(claimed.sort()).toEqual(rows.sort());
        return claimed.length;
      });
      const succeeded = runs.filter((r) => r.status === 'succeeded').length;
      expect(perProcess.reduce((a, b) => a + b, 0)).toBe(succeeded);
      // And no tick was lost: every second from the first row to the last has its row.
      const span = (Math.max(...ticks) - Math.min(...ticks)) / 1000 + 1;
      expect(runs.length).toBe(span);
      console.info(`[${dialect}] ${runs.length} rows over ${span} one-second ticks; claims per process: ${perProcess.join(', ')}; statuses: ${JSON.stringify(countBy(runs.map((r) => r.status)))}`);
    } finally {
      await Promise.all(children.map((c) => c.close()));
      await jl.close();
    }
  });
});

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}
