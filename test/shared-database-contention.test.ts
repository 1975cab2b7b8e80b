/**
 * One database shared by several worker processes, producer processes that take every enqueue path
 * (keyless single and bulk, keyed single, bulk and transactional, racing each other on the same
 * keys) and a process running every maintenance task in a loop. On SQLite all of them contend for
 * the one write lock: none of them may see a busy error, and every job must complete, once.
 * (`SOAK=1 npx vitest run test/shared-database-contention.test.ts`: 100 iterations.)
 */
import { describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { countedRuns } from './support/fixtures/counted-job.js';
import type { RaceCall } from './support/fixtures/race-paths.js';
import { describeLatency, heldKeys, lockRaceLogLines, openRaceLedger, raceProblems, waitForCompleted } from './support/race-checks.js';
import { startRaceChild } from './support/race-children.js';

const iterations = process.env.SOAK === '1' ? 100 : 16;
const keysPerIteration = 4;

interface LoopReport {
  calls: RaceCall[];
  keyless: number;
  errors: unknown[];
}

describe.each(backends)('a database shared by workers, producers and maintenance on %s', (dialect) => {
  it(
    'lets no busy error reach any caller, and completes every job once',
    async () => {
      const { config, jl, runsFile, env } = await openRaceLedger(dialect);
      const children = await Promise.all([
        startRaceChild('worker', config, env),
        startRaceChild('worker', config, env),
        startRaceChild('maintenance', config, env),
        startRaceChild('producer', config, { ...env, RACE_TAG: 'p0', RACE_INDEX: '0' }),
        startRaceChild('producer', config, { ...env, RACE_TAG: 'p1', RACE_INDEX: '1' }),
      ]);
      const producers = children.filter((c) => c.role === 'producer');
      const maintenance = children.find((c) => c.role === 'maintenance')!;

      // Both producers use the same keys, iteration by iteration, each at its own pace.
      for (const p of producers) p.send({ loop: { iterations, prefix: 'shared', keys: keysPerIteration } });
      const reports = await Promise.all(producers.map(async (p) => JSON.parse(await p.next('DONE ', process.env.SOAK === '1' ? 1_000_000 : 180_000)) as LoopReport));
      maintenance.send('stop');
      const upkeep = JSON.parse(await maintenance.next('STOPPED ')) as { runs: number; errors: unknown[] };

      expect(reports.flatMap((r) => r.errors), 'errors that reached producers').toEqual([]);
      expect(upkeep.errors, 'errors that reached maintenance').toEqual([]);
      expect(upkeep.runs).toBeGreaterThan(0);
      const calls = reports.flatMap((r) => r.calls);
      const keys = [...new Set(calls.map((c) => c.key))];
      expect(keys).toHaveLength(iterations * keysPerIteration);
      const held = await heldKeys(jl, keys);
      expect(raceProblems(calls, held)).toEqual([]);

      const total = keys.length + reports.reduce((n, r) => n + r.keyless, 0);
      expect(await jl.ledger.countRows('jobs')).toBe(total);
      await waitForCompleted(jl, total, 120_000);
      const runs = countedRuns(runsFile);
      expect(runs.size).toBe(total);
      expect([...runs.values()].filter((n) => n !== 1), 'jobs that ran more than once').toEqual([]);
      expect(await jl.ledger.countRows('attempts')).toBe(total);

      console.log(
        `[shared-database ${dialect}] 2 producer processes x ${iterations} iterations (every path on ${keysPerIteration} shared keys, ` +
          `plus 4 keyless jobs), 2 worker processes, maintenance looping (${upkeep.runs} task runs): ${total} jobs, ` +
          `${calls.length} keyed calls. Worst enqueue latency: ${describeLatency(calls)}`,
      );

      expect(lockRaceLogLines(children), 'lock races logged by the children').toEqual([]);
      for (const p of producers) p.send({ exit: true });
      await Promise.all(children.map((c) => (c.role === 'producer' || c.role === 'maintenance' ? c.exited : c.stop())));
      await Promise.all(children.map((c) => c.close()));
      await jl.close();
    },
    process.env.SOAK === '1' ? 1_200_000 : 240_000,
  );
});
