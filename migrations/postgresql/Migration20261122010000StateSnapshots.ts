import { Migration } from '@mikro-orm/migrations';

/** Keyed, versioned state (entries and their transitions) and snapshots. Generated from the entity schemas. */
export class Migration20261122010000StateSnapshots extends Migration {
  override up(): void {
    this.addSql("create table \"snapshots\" (\"id\" varchar(40) not null, \"subject_type\" varchar(20) not null, \"subject_id\" varchar(200) not null, \"subject_version\" int null, \"data\" jsonb null, \"checksum\" varchar(64) not null, \"description\" text null, \"actor\" varchar(200) null, \"created_at\" bigint not null, \"expires_at\" bigint null, constraint \"snapshots_pkey\" primary key (\"id\"));");
    this.addSql("create index \"snapshots_subject_created_at_index\" on \"snapshots\" (\"subject_type\", \"subject_id\", \"created_at\");");
    this.addSql("create index \"snapshots_expires_at_index\" on \"snapshots\" (\"expires_at\");");
    this.addSql("create index \"snapshots_created_at_index\" on \"snapshots\" (\"created_at\");");
    this.addSql("create table \"state_entries\" (\"namespace\" varchar(64) not null, \"key\" varchar(128) not null, \"status\" varchar(50) not null, \"data\" jsonb null, \"version\" int not null, \"deleted_at\" bigint null, \"created_at\" bigint not null, \"updated_at\" bigint not null, constraint \"state_entries_pkey\" primary key (\"namespace\", \"key\"));");
    this.addSql("create table \"state_transitions\" (\"id\" varchar(40) not null, \"namespace\" varchar(64) not null, \"key\" varchar(128) not null, \"change\" varchar(20) not null, \"version_before\" int null, \"version_after\" int not null, \"status_before\" varchar(50) null, \"status_after\" varchar(50) not null, \"data_before\" jsonb null, \"data_after\" jsonb null, \"reason\" text null, \"actor\" varchar(200) not null, \"job_id\" varchar(40) null, \"snapshot_id\" varchar(40) null, \"created_at\" bigint not null, constraint \"state_transitions_pkey\" primary key (\"id\"));");
    this.addSql("create index \"state_transitions_job_id_index\" on \"state_transitions\" (\"job_id\");");
    this.addSql("create index \"state_transitions_created_at_index\" on \"state_transitions\" (\"created_at\");");
    this.addSql("alter table \"state_transitions\" add constraint \"state_transitions_namespace_key_version_unique\" unique (\"namespace\", \"key\", \"version_after\");");
  }

  override down(): void {
    this.addSql("drop table if exists \"state_transitions\";");
    this.addSql("drop table if exists \"state_entries\";");
    this.addSql("drop table if exists \"snapshots\";");
  }
}
