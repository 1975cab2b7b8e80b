import { Migration } from '@mikro-orm/migrations';
import { newId } from '../../src/store/ids.js';

/**
 * The ledger's identity: `ledger_identity`, one row made here, so that every database (an existing
 * one when it migrates) gets its own id once. Workers and producers claim their Redis prefix under
 * it. Generated from the entity schema, plus the row.
 */
export class Migration20261210000000LedgerIdentity extends Migration {
  override up(): void {
    this.addSql('create table "ledger_identity" ("id" varchar(40) not null, "created_at" bigint not null, constraint "ledger_identity_pkey" primary key ("id"));');
    this.addSql(`insert into "ledger_identity" ("id", "created_at") values ('${newId('ldg')}', ${Date.now()});`);
  }

  override down(): void {
    this.addSql('drop table if exists "ledger_identity";');
  }
}
