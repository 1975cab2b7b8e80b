import { Migration } from '@mikro-orm/migrations';

/** The ledger core: jobs, attempts, the append-only event log and runs. Generated from the entity schemas. */
export class Migration20261122000000LedgerCore extends Migration {
  override up(): void {
    this.addSql("create table \"attempts\" (\"id\" varchar(40) not null, \"job_id\" varchar(40) not null, \"number\" int not null, \"status\" varchar(20) not null, \"worker_id\" varchar(200) not null, \"host\" varchar(255) not null, \"pid\" int not null, \"fencing_token\" varchar(40) not null, \"started_at\" bigint not null, \"heartbeat_at\" bigint not null, \"finished_at\" bigint null, \"duration_ms\" int null, \"error\" jsonb null, \"result\" jsonb null, constraint \"attempts_pkey\" primary key (\"id\"));");
    this.addSql("create index \"attempts_status_heartbeat_at_index\" on \"attempts\" (\"status\", \"heartbeat_at\");");
    this.addSql("alter table \"attempts\" add constraint \"attempts_job_id_number_unique\" unique (\"job_id\", \"number\");");
    this.addSql("create table \"events\" (\"id\" varchar(40) not null, \"subject_type\" varchar(20) not null, \"subject_id\" varchar(200) not null, \"seq\" int not null, \"type\" varchar(100) not null, \"payload\" jsonb null, \"actor\" varchar(200) not null, \"created_at\" bigint not null, constraint \"events_pkey\" primary key (\"id\"));");
    this.addSql("create index \"events_type_created_at_index\" on \"events\" (\"type\", \"created_at\");");
    this.addSql("create index \"events_created_at_index\" on \"events\" (\"created_at\");");
    this.addSql("alter table \"events\" add constraint \"events_subject_seq_unique\" unique (\"subject_type\", \"subject_id\", \"seq\");");
    this.addSql("create table \"jobs\" (\"id\" varchar(40) not null, \"queue\" varchar(200) not null, \"name\" varchar(200) not null, \"payload\" jsonb not null, \"status\" varchar(20) not null, \"status_reason\" text null, \"priority\" int not null, \"run_id\" varchar(40) null, \"pipeline_id\" varchar(40) null, \"stage\" varchar(200) null, \"idempotency_key\" varchar(255) null, \"max_attempts\" int not null, \"backoff\" jsonb null, \"timeout_ms\" int null, \"attempts_started\" int not null, \"attempts_failed\" int not null, \"current_attempt\" int not null, \"progress\" jsonb null, \"result\" jsonb null, \"last_error\" jsonb null, \"run_at\" bigint not null, \"created_at\" bigint not null, \"dispatched_at\" bigint null, \"started_at\" bigint null, \"finished_at\" bigint null, \"updated_at\" bigint not null, \"version\" int not null, constraint \"jobs_pkey\" primary key (\"id\"));");
    this.addSql("create index \"jobs_status_created_at_index\" on \"jobs\" (\"status\", \"created_at\");");
    this.addSql("create index \"jobs_name_created_at_index\" on \"jobs\" (\"name\", \"created_at\");");
    this.addSql("create index \"jobs_run_id_index\" on \"jobs\" (\"run_id\");");
    this.addSql("create index \"jobs_created_at_index\" on \"jobs\" (\"created_at\");");
    this.addSql("alter table \"jobs\" add constraint \"jobs_queue_idempotency_key_unique\" unique (\"queue\", \"idempotency_key\");");
    this.addSql("create table \"runs\" (\"id\" varchar(40) not null, \"name\" varchar(200) not null, \"status\" varchar(20) not null, \"status_reason\" text null, \"metadata\" jsonb null, \"created_at\" bigint not null, \"updated_at\" bigint not null, \"finished_at\" bigint null, \"version\" int not null, constraint \"runs_pkey\" primary key (\"id\"));");
    this.addSql("create index \"runs_created_at_index\" on \"runs\" (\"created_at\");");
  }

  override down(): void {
    this.addSql("drop table if exists \"events\";");
    this.addSql("drop table if exists \"attempts\";");
    this.addSql("drop table if exists \"jobs\";");
    this.addSql("drop table if exists \"runs\";");
  }
}
