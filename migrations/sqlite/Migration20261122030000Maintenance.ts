import { Migration } from '@mikro-orm/migrations';

/** Scheduled maintenance: `maintenance_runs`, one row per (task, tick). Generated from the entity schema. */
export class Migration20261122030000Maintenance extends Migration {
  override up(): void {
    this.addSql("create table `maintenance_runs` (`id` text not null, `task` text not null, `tick` bigint not null, `status` text not null, `triggered_by` text not null, `claimed_by` text not null, `started_at` bigint null, `heartbeat_at` bigint null, `finished_at` bigint null, `duration_ms` integer null, `counts` json null, `error` json null, primary key (`id`));");
    this.addSql("create index `maintenance_runs_status_heartbeat_at_index` on `maintenance_runs` (`status`, `heartbeat_at`);");
    this.addSql("create unique index `maintenance_runs_task_tick_unique` on `maintenance_runs` (`task`, `tick`);");
  }

  override down(): void {
    this.addSql("drop table if exists `maintenance_runs`;");
  }
}
