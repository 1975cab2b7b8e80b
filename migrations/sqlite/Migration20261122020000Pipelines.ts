import { Migration } from '@mikro-orm/migrations';

/** Multi-stage pipelines: the live `pipelines` and the archived `pipeline_history`. Generated from the entity schemas. */
export class Migration20261122020000Pipelines extends Migration {
  override up(): void {
    this.addSql("create table `pipeline_history` (`id` text not null, `name` text not null, `run_id` text null, `final_state` text not null, `status` text not null, `status_reason` text null, `context` json not null, `budgets` json not null, `retries` json not null, `total_loops` integer not null, `feedback` json null, `path` json not null, `started_at` bigint not null, `completed_at` bigint not null, `duration_ms` bigint not null, `archived_at` bigint not null, primary key (`id`));");
    this.addSql("create index `pipeline_history_final_state_completed_at_index` on `pipeline_history` (`final_state`, `completed_at`);");
    this.addSql("create index `pipeline_history_completed_at_index` on `pipeline_history` (`completed_at`);");
    this.addSql("create table `pipelines` (`id` text not null, `name` text not null, `run_id` text null, `state` text not null, `status` text not null, `status_reason` text null, `context` json not null, `budgets` json not null, `retries` json not null, `loops` integer not null, `feedback` json null, `path` json not null, `current_job_id` text null, `created_at` bigint not null, `updated_at` bigint not null, `finished_at` bigint null, `version` integer not null, primary key (`id`));");
    this.addSql("create index `pipelines_status_finished_at_index` on `pipelines` (`status`, `finished_at`);");
    this.addSql("create index `pipelines_state_index` on `pipelines` (`state`);");
    this.addSql("create index `pipelines_created_at_index` on `pipelines` (`created_at`);");
  }

  override down(): void {
    this.addSql("drop table if exists `pipelines`;");
    this.addSql("drop table if exists `pipeline_history`;");
  }
}
