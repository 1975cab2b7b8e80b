import { Migration } from '@mikro-orm/migrations';

/** Scheduled maintenance: `maintenance_runs`, one row per (task, tick). Generated from the entity schema. */
export class Migration20261122030000Maintenance extends Migration {
  override up(): void {
    this.addSql("create table \"maintenance_runs\" (\"id\" varchar(40) not null, \"task\" varchar(100) not null, \"tick\" bigint not null, \"status\" varchar(20) not null, \"triggered_by\" varchar(20) not null, \"claimed_by\" varchar(200) not null, \"started_at\" bigint null, \"heartbeat_at\" bigint null, \"finished_at\" bigint null, \"duration_ms\" int null, \"counts\" jsonb null, \"error\" jsonb null, constraint \"maintenance_runs_pkey\" primary key (\"id\"));");
    this.addSql("create index \"maintenance_runs_status_heartbeat_at_index\" on \"maintenance_runs\" (\"status\", \"heartbeat_at\");");
    this.addSql("alter table \"maintenance_runs\" add constraint \"maintenance_runs_task_tick_unique\" unique (\"task\", \"tick\");");
  }

  override down(): void {
    this.addSql("drop table if exists \"maintenance_runs\";");
  }
}
