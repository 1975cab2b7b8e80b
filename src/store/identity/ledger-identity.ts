/**
 * Reading the ledger's identity (entities/ledger-identity.entity.ts). The migration that makes the
 * table writes its one row; a database whose row went missing gets a new one here.
 */
import { LedgerIdentityEntity, type LedgerIdentityRow } from '../entities/index.js';
import { newId } from '../ids.js';
import { plainRow } from '../orm/entity-rows.js';
import type { LedgerEm } from '../orm/open-orm.js';

/** The ledger's identity (the oldest row, should there ever be two), or null before it is made. */
export async function readLedgerIdentity(em: LedgerEm): Promise<LedgerIdentityRow | null> {
  const [found] = await em.find(LedgerIdentityEntity, {}, { orderBy: { createdAt: 'asc', id: 'asc' }, limit: 1 });
  return found ? plainRow(LedgerIdentityEntity, found) : null;
}

/** The ledger's identity, made if it is missing (the oldest row, should there ever be two). */
export async function ensureLedgerIdentity(em: LedgerEm, now: number): Promise<LedgerIdentityRow> {
  const found = await readLedgerIdentity(em);
  if (found) return found;
  const made: LedgerIdentityRow = { id: newId('ldg'), createdAt: now };
  em.create(LedgerIdentityEntity, made);
  await em.flush();
  return made;
}
