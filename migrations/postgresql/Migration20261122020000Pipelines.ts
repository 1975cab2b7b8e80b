import { Migration } from '@mikro-orm/migrations';

/** Multi-stage pipelines: the live `pipelines` and the archived `pipeline_history`. Generated from the entity schemas. */
export class Migration20261122020000Pipelines extends Migration {
  override up(): void {
    this.addSql("create table \"pipeline_history\" (\"id\" varchar(40) not null, \"name\" varchar(200) not null, \"run_id\" varchar(40) null, \"final_state\" varchar(100) not null, \"status\" varchar(20) not null, \"status_reason\" text null, \"context\" jsonb not null, \"budgets\" jsonb not null, \"retries\" jsonb not null, \"total_loops\" int not null, \"feedback\" jsonb null, \"path\" jsonb not null, \"started_at\" bigint not null, \"completed_at\" bigint not null, \"duration_ms\" bigint not null, \"archived_at\" bigint not null, constraint \"pipeline_history_pkey\" primary key (\"id\"));");
    this.addSql("create index \"pipeline_history_final_state_completed_at_index\" on \"pipeline_history\" (\"final_state\", \"completed_at\");");
    this.addSql("create index \"pipeline_history_completed_at_index\" on \"pipeline_history\" (\"completed_at\");");
    this.addSql("create table \"pipelines\" (\"id\" varchar(40) not null, \"name\" varchar(200) not null, \"run_id\" varchar(40) null, \"state\" varchar(100) not null, \"status\" varchar(20) not null, \"status_reason\" text null, \"context\" jsonb not null, \"budgets\" jsonb not null, \"retries\" jsonb not null, \"loops\" int not null, \"feedback\" jsonb null, \"path\" jsonb not null, \"current_job_id\" varchar(40) null, \"created_at\" bigint not null, \"updated_at\" bigint not null, \"finished_at\" bigint null, \"version\" int not null, constraint \"pipelines_pkey\" primary key (\"id\"));");
    this.addSql("create index \"pipelines_status_finished_at_index\" on \"pipelines\" (\"status\", \"finished_at\");");
    this.addSql("create index \"pipelines_state_index\" on \"pipelines\" (\"state\");");
    this.addSql("create index \"pipelines_created_at_index\" on \"pipelines\" (\"created_at\");");
  }

  override down(): void {
    this.addSql("drop table if exists \"pipelines\";");
    this.addSql("drop table if exists \"pipeline_history\";");
  }
}
