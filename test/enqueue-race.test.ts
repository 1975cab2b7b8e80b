/**
 * Producers in separate processes race on the same idempotency keys through every enqueue path at
 * once (single, bulk with shifted boundaries, transactional through the ledger's EntityManager and
 * through the application's own ORM), started together at a shared time, with a worker process
 * running the jobs. Each key must end with one job, every caller must get its id, exactly one
 * caller must be told it created it, and each job must run once. Then, with BullMQ's copies removed
 * from Redis, the same races again return the original ids, create nothing and run nothing.
 * Many rounds: one passing round of a race proves nothing (`SOAK=1 npx vitest run test/enqueue-race.test.ts`: 100).
 */
import { describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { countedRuns } from './support/fixtures/counted-job.js';
import type { RaceCall, RaceSpec } from './support/fixtures/race-paths.js';
import { waitForStatus } from './support/harness.js';
import { describeLatency, heldKeys, lockRaceLogLines, openRaceLedger, raceProblems, waitForCompleted } from './support/race-checks.js';
import { startRaceChild, type RaceChild } from './support/race-children.js';
import { openQueue } from './support/redis.js';

const producerCount = 3;
const rounds = process.env.SOAK === '1' ? 100 : 20;
const keysPerRound = 6;
/** How far ahead of now a race is set to start: time for every producer to read its command. */
const startLeadMs = 200;

interface RaceReport {
  calls: RaceCall[];
  errors: unknown[];
  lateMs: number;
}

/** Every producer races `spec` at the same moment: their answers, every error a caller saw, and the latest start. */
async function raceOnce(producers: readonly RaceChild[], spec: RaceSpec): Promise<RaceReport> {
  const startAt = Date.now() + startLeadMs;
  for (const p of producers) p.send({ race: spec, startAt });
  const reports = await Promise.all(producers.map(async (p) => JSON.parse(await p.next('RESULT ')) as RaceReport));
  return {
    calls: reports.flatMap((r) => r.calls),
    errors: reports.flatMap((r) => r.errors),
    lateMs: Math.max(...reports.map((r) => r.lateMs)),
  };
}

/** Round -1 warms the processes up (connections, prepared statements, JIT): checked, but timed apart. */
function roundSpec(round: number, again = false): RaceSpec {
  const keys = Array.from({ length: keysPerRound }, (_, j) => `race-${round}-${j}`);
  // Every fourth round the app transactions take their keys in descending order, against the
  // ascending order of bulk inserts: on PostgreSQL they can deadlock, and the loser must run again.
  return { label: `r${round}${again ? '-again' : ''}`, keys, descending: round % 4 === 3 };
}

describe.each(backends)('enqueue races on %s', (dialect) => {
  it(
    'gives every racing caller the one job of each key, created once and run once, and again after Redis forgot the jobs',
    async () => {
      const { config, jl, runsFile, env } = await openRaceLedger(dialect);
      const children = await Promise.all([
        startRaceChild('worker', config, env),
        ...Array.from({ length: producerCount }, (_, i) => startRaceChild('producer', config, { ...env, RACE_TAG: `p${i}`, RACE_INDEX: String(i) })),
      ]);
      const producers = children.filter((c) => c.role === 'producer');
      const allRounds = [-1, ...Array.from({ length: rounds }, (_, i) => i)];

      // Phase 1: the races, with the worker running what they enqueue.
      const warm: RaceCall[] = [];
      const first: RaceCall[] = [];
      const held = new Map<string, { id: string; by: string }>();
      let lateMs = 0;
      for (const round of allRounds) {
        const spec = roundSpec(round);
        const race = await raceOnce(producers, spec);
        expect(race.errors, `round ${round}: errors reached callers`).toEqual([]);
        const keys = await heldKeys(jl, spec.keys);
        expect(raceProblems(race.calls, keys), `round ${round}`).toEqual([]);
        for (const [key, [job]] of keys) held.set(key, job!);
        (round < 0 ? warm : first).push(...race.calls);
        lateMs = Math.max(lateMs, race.lateMs);
      }
      const jobIds = [...held.values()].map((j) => j.id);
      expect(jobIds).toHaveLength(allRounds.length * keysPerRound);
      await waitForCompleted(jl, jobIds.length);
      const runs = countedRuns(runsFile);
      expect([...runs.keys()].sort()).toEqual([...jobIds].sort());
      expect([...runs.values()].filter((n) => n !== 1), 'jobs that ran more than once').toEqual([]);
      expect(await jl.ledger.countRows('attempts')).toBe(jobIds.length);
      expect(await jl.ledger.countRows('events')).toBe(jobIds.length * 3); // enqueued, started, completed
      const orders = async (): Promise<number> => Number((await jl.ledger.read((sql) => sql.all('SELECT COUNT(*) AS n FROM app_orders')))[0]!.n);
      expect(await orders(), 'one app order per committed app transaction').toBe(allRounds.length * producerCount);

      // Phase 2: BullMQ's copies removed; the same races find the ledger's jobs and start nothing.
      const queue = openQueue(jl);
      expect(await Promise.all(jobIds.map((id) => queue.remove(id)))).toEqual(jobIds.map(() => 1));
      const again: RaceCall[] = [];
      for (const round of allRounds) {
        const spec = roundSpec(round, true);
        const race = await raceOnce(producers, spec);
        expect(race.errors, `replayed round ${round}: errors reached callers`).toEqual([]);
        expect(raceProblems(race.calls, await heldKeys(jl, spec.keys), false), `replayed round ${round}`).toEqual([]);
        expect(race.calls.filter((c) => c.id !== held.get(c.key)!.id || c.status !== 'completed')).toEqual([]);
        again.push(...race.calls);
        lateMs = Math.max(lateMs, race.lateMs);
      }
      expect(await jl.ledger.countRows('jobs')).toBe(jobIds.length);
      expect(await jl.ledger.countRows('events')).toBe(jobIds.length * 3);
      // A job enqueued after the replays: had any replay reached Redis, the worker would have run it by now.
      const sentinel = await jl.enqueue('test.counted', { key: 'sentinel', by: 'test' });
      await waitForStatus(jl, sentinel.id, 'completed');
      const runsAfter = countedRuns(runsFile);
      expect(runsAfter.size).toBe(jobIds.length + 1);
      expect([...runsAfter.values()].every((n) => n === 1)).toBe(true);
      expect((await Promise.all(jobIds.map((id) => queue.getJob(id)))).filter(Boolean)).toEqual([]);
      expect(await orders()).toBe(allRounds.length * producerCount * 2);

      console.log(
        `[enqueue-race ${dialect}] ${rounds} rounds (after one warm-up round) of ${producerCount} producer processes x 4 paths ` +
          `on the same ${keysPerRound} keys (${first.length / rounds} calls a round), 1 worker process (concurrency 10); then every ` +
          `round again after BullMQ's copies were removed. Worst enqueue latency under contention: ${describeLatency(first)}; ` +
          `warm-up round: ${describeLatency(warm)}; replayed rounds: ${describeLatency(again)}; ` +
          `producers started at most ${lateMs} ms after the shared start time`,
      );

      expect(lockRaceLogLines(children), 'lock races logged by the children').toEqual([]);
      for (const p of producers) p.send({ exit: true });
      await Promise.all(children.map((c) => (c.role === 'producer' ? c.exited : c.stop())));
      await Promise.all(children.map((c) => c.close()));
      await queue.close();
      await jl.close();
    },
    process.env.SOAK === '1' ? 1_200_000 : 240_000,
  );
});
