import { Migration } from '@mikro-orm/migrations';

/**
 * The audit log: `audit`, one row per operator action, written in the transaction of the change,
 * never removed by job retention. Generated from the entity schema.
 */
export class Migration20261211000000AuditLog extends Migration {
  override up(): void {
    this.addSql('create table `audit` (`id` text not null, `created_at` bigint not null, `actor` text not null, `source` text not null, `action` text not null, `subject_type` text not null, `subject_id` text null, `reason` text null, `changes` json null, `filter` json null, `count` integer null, `bulk_id` text null, primary key (`id`));');
    this.addSql('create index `audit_created_at_id_index` on `audit` (`created_at`, `id`);');
    this.addSql('create index `audit_actor_created_at_index` on `audit` (`actor`, `created_at`);');
    this.addSql('create index `audit_subject_created_at_index` on `audit` (`subject_type`, `subject_id`, `created_at`);');
  }

  override down(): void {
    this.addSql('drop table if exists `audit`;');
  }
}
