/**
 * How much disk the ledger holds after a run. SQLite: the WAL is checkpointed into the main file
 * first (TRUNCATE, so the -wal file is empty), then page_count × page_size, the whole database with
 * its indexes; the files' sizes on disk are kept as a cross-check. PostgreSQL: pg_total_relation_size
 * (heap, indexes, TOAST) of the ledger tables, dead row versions included, as they are on disk right
 * after the run.
 */
import { statSync } from 'node:fs';
import type { JobLedger } from '../src/index.js';

export interface LedgerSize {
  bytes: number;
  /** SQLite only: main file + -wal file on disk after the checkpoint. */
  fileBytes?: number;
}

const ledgerTables = ['jobs', 'attempts', 'events', 'runs'];

export async function measureLedgerSize(jl: JobLedger, sqlitePath: string | undefined): Promise<LedgerSize> {
  if (jl.ledger.dialect === 'sqlite') {
    const pragma = async (statement: string): Promise<number> => {
      const [row] = await jl.ledger.read((sql) => sql.all(`PRAGMA ${statement}`));
      return Number(Object.values(row ?? {})[0] ?? 0);
    };
    await jl.ledger.read((sql) => sql.all('PRAGMA wal_checkpoint(TRUNCATE)'));
    const bytes = (await pragma('page_count')) * (await pragma('page_size'));
    const fileBytes = sqlitePath ? fileSize(sqlitePath) + fileSize(`${sqlitePath}-wal`) : undefined;
    return { bytes, ...(fileBytes !== undefined ? { fileBytes } : {}) };
  }
  const [row] = await jl.ledger.read((sql) =>
    sql.all(
      `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) AS bytes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname IN (${ledgerTables.map(() => '?').join(', ')})`,
      ledgerTables,
    ),
  );
  return { bytes: Number(row?.bytes ?? 0) };
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
