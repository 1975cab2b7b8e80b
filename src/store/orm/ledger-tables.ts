/**
 * The tables the ledger owns in a database it shares with an application. An application's own
 * MikroORM treats any table it has no entity for as one to drop (`schema:update`,
 * `getUpdateSchemaSQL()`), and its migrations table is its own, so the application's schema tool
 * must be told to leave these alone: `schemaGenerator: { skipTables: [...ledgerTables] }`.
 * A test compares this list with the tables the migrations create, on both dialects.
 */

/** The table MikroORM's migrator records the ledger's applied migrations in. */
export const migrationsTable = 'jobledger_migrations';

/** Every table of the ledger, its migrations table included. */
export const ledgerTables: readonly string[] = Object.freeze([
  'jobs',
  'attempts',
  'events',
  'runs',
  'state_entries',
  'state_transitions',
  'snapshots',
  'pipelines',
  'pipeline_history',
  'maintenance_runs',
  'ledger_identity',
  'replays',
  'job_replays',
  'audit',
  'archive_segments',
  'archived_jobs',
  migrationsTable,
]);
