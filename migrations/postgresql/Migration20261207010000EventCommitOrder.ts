import { Migration } from '@mikro-orm/migrations';

/**
 * The commit order of events, for followers of the event log (`JobLedger.subscribe`). On
 * PostgreSQL, `tx_id` is the 64-bit id of the transaction that inserted the event, set by the
 * column's default on every insert path; an event is read only once every transaction with a
 * smaller id has ended (the snapshot's xmin), so a follower that goes by `(tx_id, id)` never passes
 * an event still to commit, however long its transaction runs. Existing events get this
 * migration's transaction id. (SQLite's column stays null: one writer at a time makes its rowid
 * the commit order.)
 */
export class Migration20261207010000EventCommitOrder extends Migration {
  override up(): void {
    this.addSql('alter table "events" add column "tx_id" bigint null default (pg_current_xact_id()::text::bigint);');
    this.addSql('create index "events_tx_id_id_index" on "events" ("tx_id", "id") where "tx_id" is not null;');
  }

  override down(): void {
    this.addSql('drop index "events_tx_id_id_index";');
    this.addSql('alter table "events" drop column "tx_id";');
  }
}
