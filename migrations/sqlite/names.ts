/**
 * The names of the sqlite migrations, in order, without their classes: what the schema check of
 * every open compares the migrations table against (store/orm/migrator.ts), so that a ledger that
 * only reads loads no migration class and no migrator. index.ts pairs each name with its class, and
 * the compiler refuses a name without a class or a class without a name.
 */
export const sqliteMigrationNames = [
  'Migration20261122000000LedgerCore',
  'Migration20261122010000StateSnapshots',
  'Migration20261122020000Pipelines',
  'Migration20261122030000Maintenance',
  'Migration20261122040000HotJobUpdates',
  'Migration20261122050000RareEventTypes',
  'Migration20261204000000RunningAttempts',
  'Migration20261206000000UnusedAttemptColumns',
  'Migration20261207000000JobTraceContext',
  'Migration20261207010000EventCommitOrder',
  'Migration20261210000000LedgerIdentity',
  'Migration20261211000000AuditLog',
  'Migration20261211010000Replays',
  'Migration20261212000000ConsoleIndexes',
  'Migration20261213000000ColdArchive',
  'Migration20261214000000SearchIndex',
] as const;

export type SqliteMigrationName = (typeof sqliteMigrationNames)[number];
