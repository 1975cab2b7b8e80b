import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs } from './columns.js';

/**
 * The ledger's identity: one row, written when the migrations first run on its database (migration
 * LedgerIdentity). A worker or producer claims its Redis prefix under this id, so that two ledgers
 * never share one prefix (transport/prefix-claim.ts).
 */
export interface LedgerIdentityRow {
  /** `ldg_<ulid>`. */
  id: string;
  createdAt: number;
}

export const LedgerIdentityEntity = new EntitySchema<LedgerIdentityRow>({
  name: 'LedgerIdentityRow',
  tableName: 'ledger_identity',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    createdAt: { ...epochMs },
  },
});
