import { Migration } from '@mikro-orm/migrations';

/**
 * The commit order of events, for followers of the event log (`JobLedger.subscribe`). SQLite has
 * one writer at a time, so an event's rowid is its commit order already: the `tx_id` column, which
 * PostgreSQL fills with the inserting transaction's id, stays null here and its partial index empty
 * (the two exist so that one entity describes both schemas).
 */
export class Migration20261207010000EventCommitOrder extends Migration {
  override up(): void {
    this.addSql('alter table `events` add column `tx_id` bigint null;');
    this.addSql('create index `events_tx_id_id_index` on `events` (`tx_id`, `id`) where `tx_id` is not null;');
  }

  override down(): void {
    this.addSql('drop index `events_tx_id_id_index`;');
    this.addSql('alter table `events` drop column `tx_id`;');
  }
}
