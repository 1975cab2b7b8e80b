import { Migration } from '@mikro-orm/migrations';

/** The ledger core: jobs, attempts, the append-only event log and runs. Generated from the entity schemas. */
export class Migration20261122000000LedgerCore extends Migration {
  override up(): void {
    this.addSql("create table `attempts` (`id` text not null, `job_id` text not null, `number` integer not null, `status` text not null, `worker_id` text not null, `host` text not null, `pid` integer not null, `fencing_token` text not null, `started_at` bigint not null, `heartbeat_at` bigint not null, `finished_at` bigint null, `duration_ms` integer null, `error` json null, `result` json null, primary key (`id`));");
    this.addSql("create index `attempts_status_heartbeat_at_index` on `attempts` (`status`, `heartbeat_at`);");
    this.addSql("create unique index `attempts_job_id_number_unique` on `attempts` (`job_id`, `number`);");
    this.addSql("create table `events` (`id` text not null, `subject_type` text not null, `subject_id` text not null, `seq` integer not null, `type` text not null, `payload` json null, `actor` text not null, `created_at` bigint not null, primary key (`id`));");
    this.addSql("create index `events_type_created_at_index` on `events` (`type`, `created_at`);");
    this.addSql("create index `events_created_at_index` on `events` (`created_at`);");
    this.addSql("create unique index `events_subject_seq_unique` on `events` (`subject_type`, `subject_id`, `seq`);");
    this.addSql("create table `jobs` (`id` text not null, `queue` text not null, `name` text not null, `payload` json not null, `status` text not null, `status_reason` text null, `priority` integer not null, `run_id` text null, `pipeline_id` text null, `stage` text null, `idempotency_key` text null, `max_attempts` integer not null, `backoff` json null, `timeout_ms` integer null, `attempts_started` integer not null, `attempts_failed` integer not null, `current_attempt` integer not null, `progress` json null, `result` json null, `last_error` json null, `run_at` bigint not null, `created_at` bigint not null, `dispatched_at` bigint null, `started_at` bigint null, `finished_at` bigint null, `updated_at` bigint not null, `version` integer not null, primary key (`id`));");
    this.addSql("create index `jobs_status_created_at_index` on `jobs` (`status`, `created_at`);");
    this.addSql("create index `jobs_name_created_at_index` on `jobs` (`name`, `created_at`);");
    this.addSql("create index `jobs_run_id_index` on `jobs` (`run_id`);");
    this.addSql("create index `jobs_created_at_index` on `jobs` (`created_at`);");
    this.addSql("create unique index `jobs_queue_idempotency_key_unique` on `jobs` (`queue`, `idempotency_key`);");
    this.addSql("create table `runs` (`id` text not null, `name` text not null, `status` text not null, `status_reason` text null, `metadata` json null, `created_at` bigint not null, `updated_at` bigint not null, `finished_at` bigint null, `version` integer not null, primary key (`id`));");
    this.addSql("create index `runs_created_at_index` on `runs` (`created_at`);");
  }

  override down(): void {
    this.addSql("drop table if exists `events`;");
    this.addSql("drop table if exists `attempts`;");
    this.addSql("drop table if exists `jobs`;");
    this.addSql("drop table if exists `runs`;");
  }
}
