import { Migration } from '@mikro-orm/migrations';

/**
 * Full-text search (store/search/): `search_positions` (how far the indexer has followed the event
 * log; generated from the entity schema), one search document per job in `search_documents_fts`, an
 * FTS5 table of the job's error messages, payload text and notable event text, and
 * `search_documents`, which maps a job to its document's rowid. jobledger's indexer writes both
 * tables from the event log, off the hot path; there is no trigger (PostgreSQL's side is a tsvector
 * column with a GIN index, written by the same indexer). The tokenizer folds case and diacritics
 * and splits on anything that is not a letter or a digit, close to PostgreSQL's `simple` parser.
 */
export class Migration20261214000000SearchIndex extends Migration {
  override up(): void {
    this.addSql('create table `search_positions` (`name` text not null, `log_order` bigint not null, `event_id` text not null, `events` bigint not null, `updated_at` bigint not null, primary key (`name`));');
    this.addSql('create table `search_documents` (`doc_id` integer not null primary key, `job_id` text not null);');
    this.addSql('create unique index `search_documents_job_id_unique` on `search_documents` (`job_id`);');
    this.addSql("create virtual table `search_documents_fts` using fts5(`error_text`, `payload_text`, `event_text`, tokenize = 'unicode61 remove_diacritics 2');");
  }

  override down(): void {
    this.addSql('drop table if exists `search_documents_fts`;');
    this.addSql('drop table if exists `search_documents`;');
    this.addSql('drop table if exists `search_positions`;');
  }
}
