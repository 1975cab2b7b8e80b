import { Migration } from '@mikro-orm/migrations';

/** Keyed, versioned state (entries and their transitions) and snapshots. Generated from the entity schemas. */
export class Migration20261122010000StateSnapshots extends Migration {
  override up(): void {
    this.addSql("create table `snapshots` (`id` text not null, `subject_type` text not null, `subject_id` text not null, `subject_version` integer null, `data` json null, `checksum` text not null, `description` text null, `actor` text null, `created_at` bigint not null, `expires_at` bigint null, primary key (`id`));");
    this.addSql("create index `snapshots_subject_created_at_index` on `snapshots` (`subject_type`, `subject_id`, `created_at`);");
    this.addSql("create index `snapshots_expires_at_index` on `snapshots` (`expires_at`);");
    this.addSql("create index `snapshots_created_at_index` on `snapshots` (`created_at`);");
    this.addSql("create table `state_entries` (`namespace` text not null, `key` text not null, `status` text not null, `data` json null, `version` integer not null, `deleted_at` bigint null, `created_at` bigint not null, `updated_at` bigint not null, primary key (`namespace`, `key`));");
    this.addSql("create table `state_transitions` (`id` text not null, `namespace` text not null, `key` text not null, `change` text not null, `version_before` integer null, `version_after` integer not null, `status_before` text null, `status_after` text not null, `data_before` json null, `data_after` json null, `reason` text null, `actor` text not null, `job_id` text null, `snapshot_id` text null, `created_at` bigint not null, primary key (`id`));");
    this.addSql("create index `state_transitions_job_id_index` on `state_transitions` (`job_id`);");
    this.addSql("create index `state_transitions_created_at_index` on `state_transitions` (`created_at`);");
    this.addSql("create unique index `state_transitions_namespace_key_version_unique` on `state_transitions` (`namespace`, `key`, `version_after`);");
  }

  override down(): void {
    this.addSql("drop table if exists `state_transitions`;");
    this.addSql("drop table if exists `state_entries`;");
    this.addSql("drop table if exists `snapshots`;");
  }
}
