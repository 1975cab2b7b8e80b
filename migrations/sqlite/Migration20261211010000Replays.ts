import { Migration } from '@mikro-orm/migrations';

/**
 * Replays: `replays` (a named replay: who, why, the filter, how far it got) and `job_replays` (each
 * new job's original and replay), beside `jobs` so the enqueue hot path writes no extra column.
 * Generated from the entity schemas.
 */
export class Migration20261211010000Replays extends Migration {
  override up(): void {
    this.addSql('create table `job_replays` (`job_id` text not null, `replay_of` text not null, `replay_id` text not null, primary key (`job_id`));');
    this.addSql('create index `job_replays_replay_of_index` on `job_replays` (`replay_of`);');
    this.addSql('create index `job_replays_replay_id_index` on `job_replays` (`replay_id`);');
    this.addSql('create table `replays` (`id` text not null, `name` text not null, `reason` text not null, `actor` text not null, `filter` json not null, `status` text not null, `status_reason` text null, `job_limit` integer null, `matched` integer not null, `created` integer not null, `created_at` bigint not null, `updated_at` bigint not null, `finished_at` bigint null, primary key (`id`));');
    this.addSql('create index `replays_created_at_index` on `replays` (`created_at`);');
  }

  override down(): void {
    this.addSql('drop table if exists `replays`;');
    this.addSql('drop table if exists `job_replays`;');
  }
}
