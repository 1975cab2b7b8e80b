/**
 * What one `vitest run` leaves behind, and its removal. Every test makes a fresh PostgreSQL
 * database, temporary directory and Redis prefix (backends.ts, and the CLI's tests); a full run
 * made about 145 databases, 160 directories and 2,000 Redis keys and kept them all, so a
 * developer's machine gathered thousands. Their names carry the run's tag (set by the global
 * setup, cleanup.ts), and the teardown removes everything with it, and only that: a second run at
 * the same time keeps its own.
 */
import { randomBytes } from 'node:crypto';

const runTagVariable = 'JOBLEDGER_TEST_RUN';

/** This run's tag: set by the global setup for every worker; `adhoc` where a test runs without it. */
export function testRunTag(): string {
  return process.env[runTagVariable] ?? 'adhoc';
}

/** Makes a tag for a new run and hands it to the workers (forked after the global setup). */
export function startTestRun(): string {
  const tag = randomBytes(4).toString('hex');
  process.env[runTagVariable] = tag;
  return tag;
}

/** Names made with the tag. PostgreSQL folds unquoted names to lower case: keep them lower case. */
export const testNames = {
  databasePrefix: (tag: string) => `jobledger_test_${tag}_`,
  directoryPrefix: (tag: string) => `jobledger-test-${tag}-`,
  redisPrefixStart: (tag: string) => `jltest-${tag}-`,
};
