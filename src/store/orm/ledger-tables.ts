/**
 * The tables the ledger owns in a database it shares with an application. An application's own
 * MikroORM treats any table it has no entity for as one to drop (`schema:update`,
 * `getUpdateSchemaSQL()`), and its migrations table is its own, so the application's schema tool
 * must be told to leave these alone: `schemaGenerator: { skipTables: [...ledgerTables] }`.
 * A test compares this list with the tables the migrations create, on both dialects.
 */

/** The table MikroORM's migrator records the ledger's applied migrations in. */
export const migrationsTable = 'jobledger_migrations';

/**
 * The full-text search index's documents (migration SearchIndex): on SQLite a mapping table, an FTS5
 * virtual table and the five tables FTS5 keeps it in; on PostgreSQL `search_documents` alone. No
 * entity describes them (an FTS5 table and a tsvector column have no common mapping), so the
 * ledger's own schema tool skips them too (open-orm.ts).
 */
export const searchIndexTables: readonly string[] = Object.freeze([
  'search_documents',
  'search_documents_fts',
  'search_documents_fts_data',
  'search_documents_fts_idx',
  'search_documents_fts_content',
  'search_documents_fts_docsize',
  'search_documents_fts_config',
]);

/** The tables of `searchIndexTables` only SQLite has. */
export const sqliteOnlyTables: readonly string[] = Object.freeze(searchIndexTables.filter((t) => t !== 'search_documents'));

/** Every table of the ledger, its migrations table included (on PostgreSQL, all but `sqliteOnlyTables`). */
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
  'search_positions',
  ...searchIndexTables,
  migrationsTable,
]);
