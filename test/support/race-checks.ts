/**
 * What the enqueue race tests check after every race, and the ledger they race on: a fresh database
 * with the application's table beside the ledger's, the counted job type (fixtures/counted-job.ts)
 * and the file its runs go to.
 */
import { join } from 'node:path';
import type { Config, DatabaseDialect } from '../../src/config.js';
import { JobLedger } from '../../src/jobledger.js';
import { decodeJson, placeholders } from '../../src/store/engine/sql.js';
import { testConfig } from './backends.js';
import { createAppTables } from './fixtures/app-orm.js';
import { countedJob } from './fixtures/counted-job.js';
import type { RaceCall, RacePath } from './fixtures/race-paths.js';
import { waitFor } from './harness.js';
import { track } from './leak-check.js';
import { runDirectory } from './test-run.js';

export interface RaceLedger {
  config: Readonly<Config>;
  jl: JobLedger;
  /** Where the counted job's handler records each run (pass `env` to the children). */
  runsFile: string;
  env: Record<string, string>;
}

export async function openRaceLedger(dialect: DatabaseDialect): Promise<RaceLedger> {
  const config = await testConfig(dialect);
  const jl = track(await JobLedger.open({ jobs: [countedJob], config, migrate: true }), `JobLedger(${dialect})`);
  await jl.ledger.transaction((tx) => tx.run(createAppTables));
  const runsFile = join(runDirectory(), 'runs.log');
  return { config, jl, runsFile, env: { COUNTED_RUNS_FILE: runsFile } };
}

/** The job holding each key, as the ledger has it. */
export interface HeldKey {
  id: string;
  /** The `by` of the payload stored with the job: the caller whose payload won. */
  by: string;
  status: string;
}

export async function heldKeys(jl: JobLedger, keys: readonly string[]): Promise<Map<string, HeldKey[]>> {
  const held = new Map<string, HeldKey[]>();
  for (let start = 0; start < keys.length; start += 500) {
    const chunk = keys.slice(start, start + 500);
    const rows = await jl.ledger.read((sql) =>
      sql.all(`SELECT id, idempotency_key, payload, status FROM jobs WHERE idempotency_key IN (${placeholders(chunk.length)})`, chunk),
    );
    for (const row of rows) {
      const payload = decodeJson(jl.ledger.dialect, row.payload) as { by: string };
      const key = String(row.idempotency_key);
      held.set(key, [...(held.get(key) ?? []), { id: String(row.id), by: payload.by, status: String(row.status) }]);
    }
  }
  return held;
}

/**
 * Everything wrong with one race's answers: a key without exactly one job, a caller given another
 * id, not exactly one `created` per key (`expectCreated` false: none at all), a stored payload that
 * is not the creator's, a `payloadMatched` that does not say whether the caller's payload is the
 * stored one.
 */
export function raceProblems(calls: readonly RaceCall[], held: Map<string, HeldKey[]>, expectCreated = true): string[] {
  const problems: string[] = [];
  const byKey = new Map<string, RaceCall[]>();
  for (const call of calls) byKey.set(call.key, [...(byKey.get(call.key) ?? []), call]);
  for (const [key, keyCalls] of byKey) {
    const jobs = held.get(key) ?? [];
    if (jobs.length !== 1) {
      problems.push(`${key}: ${jobs.length} jobs hold the key`);
      continue;
    }
    const job = jobs[0]!;
    const others = keyCalls.filter((c) => c.id !== job.id);
    if (others.length) problems.push(`${key}: ${others.length} of ${keyCalls.length} callers got another id (${others[0]!.path} got ${others[0]!.id})`);
    const created = keyCalls.filter((c) => c.created);
    if (created.length !== (expectCreated ? 1 : 0)) {
      problems.push(`${key}: ${created.length} callers were told they created the job (${created.map((c) => c.by).join(', ')})`);
    }
    if (expectCreated && created.length === 1 && created[0]!.by !== job.by) problems.push(`${key}: stored payload of ${job.by}, created by ${created[0]!.by}`);
    const wrongMatch = keyCalls.filter((c) => c.payloadMatched !== (c.by === job.by));
    if (wrongMatch.length) problems.push(`${key}: payloadMatched ${wrongMatch[0]!.payloadMatched} for ${wrongMatch[0]!.by}, stored ${job.by}`);
  }
  return problems;
}

/** Per path, the slowest call and the median one, as `single 412 ms (median 35 ms), ...`. */
export function describeLatency(calls: readonly RaceCall[]): string {
  const byPath = new Map<RacePath, number[]>();
  for (const c of calls) byPath.set(c.path, [...(byPath.get(c.path) ?? []), c.ms]);
  return [...byPath]
    .map(([path, all]) => {
      const sorted = [...all].sort((a, b) => a - b);
      return `${path} ${Math.round(sorted.at(-1)!)} ms (median ${Math.round(sorted[Math.floor(sorted.length / 2)]!)} ms)`;
    })
    .join(', ');
}

/** Waits until `total` jobs are completed (and fails if any ended otherwise). */
export async function waitForCompleted(jl: JobLedger, total: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    async () => {
      const counts = await jl.ledger.countJobsByStatus();
      const finishedOtherwise = counts.failed + counts.cancelled;
      if (finishedOtherwise) throw new Error(`jobs ended otherwise than completed: ${JSON.stringify(counts)}`);
      return counts.completed >= total ? true : undefined;
    },
    `${total} completed jobs`,
    timeoutMs,
  );
}

/** Log lines of the children that tell of a lock race a retry did not absorb. */
export function lockRaceLogLines(children: readonly { role: string; stderr(): string }[]): string[] {
  const race = /SQLITE_BUSY|database is locked|deadlock detected|could not serialize|duplicate key/i;
  return children.flatMap((c) => c.stderr().split('\n').filter((line) => race.test(line)).map((line) => `${c.role}: ${line.slice(0, 300)}`));
}
