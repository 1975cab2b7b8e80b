import { Migration } from '@mikro-orm/migrations';

/**
 * Full-text search (store/search/): `search_positions` (how far the indexer has followed the event
 * log; generated from the entity schema) and `search_documents`, one search document per job: its
 * error messages, payload text and notable event text, and their `simple` tsvector (errors weighted
 * A, payload B, events C) under a GIN index. jobledger's indexer writes the rows and the vector from
 * the event log, off the hot path; there is no trigger (SQLite's side is an FTS5 table written by the
 * same indexer).
 */
export class Migration20261214000000SearchIndex extends Migration {
  override up(): void {
    this.addSql('create table "search_positions" ("name" varchar(40) not null, "log_order" bigint not null, "event_id" varchar(40) not null, "events" bigint not null, "updated_at" bigint not null, constraint "search_positions_pkey" primary key ("name"));');
    this.addSql(`create table "search_documents" ("job_id" varchar(40) not null, "error_text" text not null default '', "payload_text" text not null default '', "event_text" text not null default '', "search_vector" tsvector not null, constraint "search_documents_pkey" primary key ("job_id"));`);
    this.addSql('create index "search_documents_search_vector_index" on "search_documents" using gin ("search_vector");');
  }

  override down(): void {
    this.addSql('drop table if exists "search_documents";');
    this.addSql('drop table if exists "search_positions";');
  }
}
