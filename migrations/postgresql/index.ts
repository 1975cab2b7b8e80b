/**
 * The postgresql migrations, in order (names.ts). Listed explicitly (not found by a glob) so they work the
 * same from source, from the compiled package and inside an application's bundle.
 */
import type { MigrationObject } from '@mikro-orm/core';
import { postgresqlMigrationNames, type PostgresqlMigrationName } from './names.js';
import { Migration20261122000000LedgerCore } from './Migration20261122000000LedgerCore.js';
import { Migration20261122010000StateSnapshots } from './Migration20261122010000StateSnapshots.js';
import { Migration20261122020000Pipelines } from './Migration20261122020000Pipelines.js';
import { Migration20261122030000Maintenance } from './Migration20261122030000Maintenance.js';
import { Migration20261122040000HotJobUpdates } from './Migration20261122040000HotJobUpdates.js';
import { Migration20261122050000RareEventTypes } from './Migration20261122050000RareEventTypes.js';
import { Migration20261204000000RunningAttempts } from './Migration20261204000000RunningAttempts.js';
import { Migration20261206000000UnusedAttemptColumns } from './Migration20261206000000UnusedAttemptColumns.js';
import { Migration20261206010000LongDurations } from './Migration20261206010000LongDurations.js';
import { Migration20261207000000JobTraceContext } from './Migration20261207000000JobTraceContext.js';
import { Migration20261207010000EventCommitOrder } from './Migration20261207010000EventCommitOrder.js';
import { Migration20261210000000LedgerIdentity } from './Migration20261210000000LedgerIdentity.js';
import { Migration20261211000000AuditLog } from './Migration20261211000000AuditLog.js';
import { Migration20261211010000Replays } from './Migration20261211010000Replays.js';
import { Migration20261212000000ConsoleIndexes } from './Migration20261212000000ConsoleIndexes.js';
import { Migration20261213000000ColdArchive } from './Migration20261213000000ColdArchive.js';
import { Migration20261214000000SearchIndex } from './Migration20261214000000SearchIndex.js';

const classes = {
  Migration20261122000000LedgerCore,
  Migration20261122010000StateSnapshots,
  Migration20261122020000Pipelines,
  Migration20261122030000Maintenance,
  Migration20261122040000HotJobUpdates,
  Migration20261122050000RareEventTypes,
  Migration20261204000000RunningAttempts,
  Migration20261206000000UnusedAttemptColumns,
  Migration20261206010000LongDurations,
  Migration20261207000000JobTraceContext,
  Migration20261207010000EventCommitOrder,
  Migration20261210000000LedgerIdentity,
  Migration20261211000000AuditLog,
  Migration20261211010000Replays,
  Migration20261212000000ConsoleIndexes,
  Migration20261213000000ColdArchive,
  Migration20261214000000SearchIndex,
} satisfies Record<PostgresqlMigrationName, MigrationObject['class']>;

export const postgresqlMigrations: MigrationObject[] = postgresqlMigrationNames.map((name) => ({ name, class: classes[name] }));
