/**
 * The hot state tiers across two real processes (fixtures/hot-state-process.ts, run from dist/:
 * build first) writing and reading the same few keys at once, on both backends. A checker like the
 * fault suite's then reads both logs: no read returns a version older than one its process saw
 * before (monotonic reads), and no read returns a version older than one the other process had
 * committed more than the stated staleness bound before the read began.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { backends, testConfig } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { track } from './support/leak-check.js';
import { JobLedger } from '../src/jobledger.js';

const script = fileURLToPath(new URL('../dist/test/support/fixtures/hot-state-process.js', import.meta.url));
/** The staleness bound the docs state for a live Redis (docs/pipelines-and-state.md#hot-tiers), with room for a loaded machine. */
const stalenessBoundMs = 1000;

interface Op {
  op: 'r' | 'w';
  k: string;
  v: number;
  t0: number;
  t1: number;
}

interface Done {
  ops: number;
  violations: number;
  stats: { reads: number; tiers: Record<'lru' | 'redis' | 'sql', { reads: number; hits: number; misses: number }> };
}

async function runChild(config: Readonly<Config>, name: string, env: Record<string, string>): Promise<{ ops: Op[]; done: Done }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([n]) => !n.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [script], { env: { ...inherited, ...configEnv(config), HOT_NAME: name, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = track({ close: () => Promise.resolve(void child.kill('SIGKILL')) }, `hot state process ${name}`);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const ops: Op[] = [];
  let done: Done | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('OP ')) ops.push(JSON.parse(line.slice(3)) as Op);
    else if (line.startsWith('DONE ')) done = JSON.parse(line.slice(5)) as Done;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  await handle.close();
  if (code !== 0 || !done) throw new Error(`hot state process ${name} exited with ${code}; stderr:\n${stderr}`);
  return { ops, done };
}

/** Reads that returned a version older than one the other process had committed `boundMs` before the read began, and the largest lag seen. */
function staleReads(reads: readonly Op[], otherWrites: readonly Op[], boundMs: number): { stale: Op[]; maxLagMs: number } {
  const stale: Op[] = [];
  let maxLagMs = 0;
  for (const read of reads) {
    // The first write of the other process newer than what the read returned, committed (t1) before the read began.
    const newer = otherWrites.filter((w) => w.k === read.k && w.v > read.v && w.t1 <= read.t0);
    if (newer.length === 0) continue;
    const lag = read.t0 - Math.min(...newer.map((w) => w.t1));
    maxLagMs = Math.max(maxLagMs, lag);
    if (lag > boundMs) stale.push(read);
  }
  return { stale, maxLagMs };
}

describe.each(backends)('hot state tiers across two processes on %s', (dialect) => {
  it('keeps reads monotonic per process, and stale across processes only within the stated bound', async () => {
    if (!existsSync(script)) throw new Error(`${script} is missing: run \`npm run build\` first`);
    const config = await testConfig(dialect);
    // Migrated once here, so that the two processes start on a ready schema.
    const setup = track(await JobLedger.open({ jobs: [], config, migrate: true, relay: false }), 'setup JobLedger');
    await setup.state.setMany(Array.from({ length: 4 }, (_, i) => ({ namespace: 'hot', key: `k${i}`, data: { seed: true } })));
    await setup.close();

    const env = { HOT_KEYS: '4', HOT_DURATION_MS: '4000', HOT_WRITE_RATIO: '0.15' };
    const [a, b] = await Promise.all([runChild(config, 'a', env), runChild(config, 'b', env)]);

    for (const { ops, done } of [a, b]) {
      const reads = ops.filter((o) => o.op === 'r');
      expect(reads.length).toBeGreaterThan(20);
      expect(ops.filter((o) => o.op === 'w').length).toBeGreaterThan(2);
      // Monotonic reads, checked by the process as it ran and again here from its log.
      expect(done.violations).toBe(0);
      const seen = new Map<string, number>();
      for (const op of ops) {
        if (op.op === 'r') expect(op.v, `read of ${op.k} at ${op.t0}`).toBeGreaterThanOrEqual(seen.get(op.k) ?? 0);
        seen.set(op.k, Math.max(op.v, seen.get(op.k) ?? 0));
      }
      // Statistics add up: every read is a hit or a miss of the LRU, each LRU miss reaches Redis or SQL.
      const { tiers } = done.stats;
      expect(done.stats.reads).toBe(reads.length);
      for (const tier of ['lru', 'redis', 'sql'] as const) expect(tiers[tier].hits + tiers[tier].misses).toBe(tiers[tier].reads);
      expect(tiers.lru.reads).toBe(reads.length);
      expect(tiers.lru.hits, JSON.stringify(done.stats)).toBeGreaterThan(0);
    }

    const aStale = staleReads(a.ops.filter((o) => o.op === 'r'), b.ops.filter((o) => o.op === 'w'), stalenessBoundMs);
    const bStale = staleReads(b.ops.filter((o) => o.op === 'r'), a.ops.filter((o) => o.op === 'w'), stalenessBoundMs);
    console.log(`[${dialect}] largest cross-process staleness seen: ${Math.max(aStale.maxLagMs, bStale.maxLagMs)} ms (bound ${stalenessBoundMs} ms)`);
    expect(aStale.stale).toEqual([]);
    expect(bStale.stale).toEqual([]);
  }, 120_000);
});
