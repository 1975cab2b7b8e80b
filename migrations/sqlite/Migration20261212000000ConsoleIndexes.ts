import { Migration } from '@mikro-orm/migrations';

/**
 * The console's job listings, newest first, a keyset page at a time, over millions of jobs. Every
 * listing orders by (created_at, id): indexes on (created_at) alone left the tie on id to a sort,
 * and SQLite's planner then read and sorted the whole table rather than walk the index. So the
 * time, job type and run indexes gain `id` (replacing the narrower ones: the same writes, a little
 * wider), and a queue filter gets one of its own (the unique index on queue and idempotency key
 * only found a queue's jobs unordered). Each holds only columns a job's row never changes after it
 * is written: an attempt's start or finish writes none of them (and on PostgreSQL stays a HOT
 * update). Status is still not indexed (migration HotJobUpdates): a status filter walks the time
 * index, newest first.
 */
export class Migration20261212000000ConsoleIndexes extends Migration {
  override up(): void {
    this.addSql('drop index if exists "jobs_created_at_index";');
    this.addSql('create index "jobs_created_at_id_index" on "jobs" ("created_at", "id");');
    this.addSql('drop index if exists "jobs_name_created_at_index";');
    this.addSql('create index "jobs_name_created_at_id_index" on "jobs" ("name", "created_at", "id");');
    this.addSql('drop index if exists "jobs_run_id_index";');
    this.addSql('create index "jobs_run_id_created_at_id_index" on "jobs" ("run_id", "created_at", "id");');
    this.addSql('create index "jobs_queue_created_at_id_index" on "jobs" ("queue", "created_at", "id");');
  }

  override down(): void {
    this.addSql('drop index if exists "jobs_queue_created_at_id_index";');
    this.addSql('drop index if exists "jobs_run_id_created_at_id_index";');
    this.addSql('create index "jobs_run_id_index" on "jobs" ("run_id");');
    this.addSql('drop index if exists "jobs_name_created_at_id_index";');
    this.addSql('create index "jobs_name_created_at_index" on "jobs" ("name", "created_at");');
    this.addSql('drop index if exists "jobs_created_at_id_index";');
    this.addSql('create index "jobs_created_at_index" on "jobs" ("created_at");');
  }
}
