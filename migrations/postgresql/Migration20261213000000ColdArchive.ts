import { Migration } from '@mikro-orm/migrations';

/**
 * The cold archive: `archive_segments` (one row per compressed segment of archived jobs, with its
 * SHA-256 and counts) and `archived_jobs` (job id to segment, with the fields a filter needs),
 * written in the transaction that deletes the jobs they describe. Generated from the entity schemas.
 */
export class Migration20261213000000ColdArchive extends Migration {
  override up(): void {
    this.addSql('create table "archive_segments" ("id" varchar(40) not null, "created_at" bigint not null, "target" varchar(20) not null, "location" text not null, "sha256" varchar(64) not null, "bytes" bigint not null, "jobs" int not null, "attempts" int not null, "events" int not null, "first_created_at" bigint not null, "last_created_at" bigint not null, "status" varchar(20) not null, "restored_at" bigint null, constraint "archive_segments_pkey" primary key ("id"));');
    this.addSql('create index "archive_segments_created_at_id_index" on "archive_segments" ("created_at", "id");');
    this.addSql('create table "archived_jobs" ("job_id" varchar(40) not null, "segment_id" varchar(40) not null, "queue" varchar(200) not null, "name" varchar(200) not null, "status" varchar(20) not null, "run_id" varchar(40) null, "pipeline_id" varchar(40) null, "created_at" bigint not null, "finished_at" bigint null, constraint "archived_jobs_pkey" primary key ("job_id"));');
    this.addSql('create index "archived_jobs_segment_id_index" on "archived_jobs" ("segment_id");');
    this.addSql('create index "archived_jobs_created_at_job_id_index" on "archived_jobs" ("created_at", "job_id");');
    this.addSql('create index "archived_jobs_run_id_created_at_index" on "archived_jobs" ("run_id", "created_at");');
  }

  override down(): void {
    this.addSql('drop table if exists "archived_jobs";');
    this.addSql('drop table if exists "archive_segments";');
  }
}
