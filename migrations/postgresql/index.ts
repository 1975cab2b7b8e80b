/**
 * The postgresql migrations, in order. Listed explicitly (not found by a glob) so they work the same from
 * source, from the compiled package and inside an application's bundle.
 */
import type { MigrationObject } from '@mikro-orm/core';
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

export const postgresqlMigrations: MigrationObject[] = [
  { name: 'Migration20261122000000LedgerCore', class: Migration20261122000000LedgerCore },
  { name: 'Migration20261122010000StateSnapshots', class: Migration20261122010000StateSnapshots },
  { name: 'Migration20261122020000Pipelines', class: Migration20261122020000Pipelines },
  { name: 'Migration20261122030000Maintenance', class: Migration20261122030000Maintenance },
  { name: 'Migration20261122040000HotJobUpdates', class: Migration20261122040000HotJobUpdates },
  { name: 'Migration20261122050000RareEventTypes', class: Migration20261122050000RareEventTypes },
  { name: 'Migration20261204000000RunningAttempts', class: Migration20261204000000RunningAttempts },
  { name: 'Migration20261206000000UnusedAttemptColumns', class: Migration20261206000000UnusedAttemptColumns },
  { name: 'Migration20261206010000LongDurations', class: Migration20261206010000LongDurations },
  { name: 'Migration20261207000000JobTraceContext', class: Migration20261207000000JobTraceContext },
  { name: 'Migration20261207010000EventCommitOrder', class: Migration20261207010000EventCommitOrder },
  { name: 'Migration20261210000000LedgerIdentity', class: Migration20261210000000LedgerIdentity },
  { name: 'Migration20261211000000AuditLog', class: Migration20261211000000AuditLog },
  { name: 'Migration20261211010000Replays', class: Migration20261211010000Replays },
  { name: 'Migration20261212000000ConsoleIndexes', class: Migration20261212000000ConsoleIndexes },
  { name: 'Migration20261213000000ColdArchive', class: Migration20261213000000ColdArchive },
  { name: 'Migration20261214000000SearchIndex', class: Migration20261214000000SearchIndex },
];
