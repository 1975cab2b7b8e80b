import { Migration } from '@mikro-orm/migrations';

/**
 * Replays: `replays` (a named replay: who, why, the filter, how far it got) and `job_replays` (each
 * new job's original and replay), beside `jobs` so the enqueue hot path writes no extra column.
 * Generated from the entity schemas.
 */
export class Migration20261211010000Replays extends Migration {
  override up(): void {
    this.addSql('create table "job_replays" ("job_id" varchar(40) not null, "replay_of" varchar(40) not null, "replay_id" varchar(40) not null, constraint "job_replays_pkey" primary key ("job_id"));');
    this.addSql('create index "job_replays_replay_of_index" on "job_replays" ("replay_of");');
    this.addSql('create index "job_replays_replay_id_index" on "job_replays" ("replay_id");');
    this.addSql('create table "replays" ("id" varchar(40) not null, "name" varchar(200) not null, "reason" text not null, "actor" varchar(200) not null, "filter" jsonb not null, "status" varchar(20) not null, "status_reason" text null, "job_limit" int null, "matched" int not null, "created" int not null, "created_at" bigint not null, "updated_at" bigint not null, "finished_at" bigint null, constraint "replays_pkey" primary key ("id"));');
    this.addSql('create index "replays_created_at_index" on "replays" ("created_at");');
  }

  override down(): void {
    this.addSql('drop table if exists "replays";');
    this.addSql('drop table if exists "job_replays";');
  }
}
