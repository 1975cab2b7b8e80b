import { Migration } from '@mikro-orm/migrations';

/**
 * The audit log: `audit`, one row per operator action, written in the transaction of the change,
 * never removed by job retention. Generated from the entity schema.
 */
export class Migration20261211000000AuditLog extends Migration {
  override up(): void {
    this.addSql('create table "audit" ("id" varchar(40) not null, "created_at" bigint not null, "actor" varchar(200) not null, "source" varchar(20) not null, "action" varchar(50) not null, "subject_type" varchar(20) not null, "subject_id" varchar(200) null, "reason" text null, "changes" jsonb null, "filter" jsonb null, "count" int null, "bulk_id" varchar(40) null, constraint "audit_pkey" primary key ("id"));');
    this.addSql('create index "audit_created_at_id_index" on "audit" ("created_at", "id");');
    this.addSql('create index "audit_actor_created_at_index" on "audit" ("actor", "created_at");');
    this.addSql('create index "audit_subject_created_at_index" on "audit" ("subject_type", "subject_id", "created_at");');
  }

  override down(): void {
    this.addSql('drop table if exists "audit";');
  }
}
