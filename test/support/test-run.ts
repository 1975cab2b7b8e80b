/**
 * What one `vitest run` leaves behind, and its removal. Every test makes a fresh PostgreSQL
 * database, temporary directory and Redis prefix (backends.ts, and the CLI's tests); a full run
 * made about 145 databases, 160 directories and 2,000 Redis keys and kept them all, so a
 * developer's machine gathered thousands. Their names carry the run's tag (set by the global
 * setup, cleanup.ts), and the teardown removes everything with it, and only that: a second run at
 * the same time keeps its own.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const runTagVariable = 'JOBLEDGER_TEST_RUN';

/** This run's tag: set by the global setup for every worker; `adhoc` where a test runs without it. */
function testRunTag(): string {
  return process.env[runTagVariable] ?? 'adhoc';
}

/** Makes a tag for a new run and hands it to the workers (forked after the global setup). */
export function startTestRun(): string {
  const tag = randomBytes(4).toString('hex');
  process.env[runTagVariable] = tag;
  return tag;
}

/**
 * The prefixes of what a run makes, for this run or for `tag`. PostgreSQL folds unquoted names to
 * lower case: keep them lower case.
 */
export function runNames(tag = testRunTag()): { databasePrefix: string; directoryPrefix: string; redisPrefix: string } {
  return { databasePrefix: `jobledger_test_${tag}_`, directoryPrefix: `jobledger-test-${tag}-`, redisPrefix: `jltest-${tag}-` };
}

/** A fresh temporary directory of this run (removed at its end). */
export function runDirectory(): string {
  return mkdtempSync(join(tmpdir(), runNames().directoryPrefix));
}
