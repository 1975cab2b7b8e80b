/**
 * The options pg-boss runs with in the bench, producer and worker alike; a module of its own so that
 * a pg-boss worker child does not load jobledger through producers.ts.
 */
import type PgBoss from 'pg-boss';

export function pgbossOptions(databaseUrl: string): PgBoss.ConstructorOptions {
  // No maintenance or cron loops: they would add work (and timers) that neither BullMQ nor the
  // ledger does during a run. Its schema is made by the producer (migrate), before the worker opens.
  return { connectionString: databaseUrl, supervise: false, schedule: false };
}
