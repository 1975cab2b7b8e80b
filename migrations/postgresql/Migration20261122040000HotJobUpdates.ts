import { Migration } from '@mikro-orm/migrations';

/**
 * Job status changes touch no index. `jobs_status_created_at_index` made every start and finish of
 * a job rewrite an index entry (on PostgreSQL, every index of the table: no HOT update), and it led
 * PostgreSQL's planner, on a table without fresh statistics, to scan every waiting job to update a
 * batch of them by id. The one query that needed it, the outbox, gets a partial index of its own.
 */
export class Migration20261122040000HotJobUpdates extends Migration {
  override up(): void {
    this.addSql('drop index if exists "jobs_status_created_at_index";');
    this.addSql('create index "jobs_undispatched_index" on "jobs" ("created_at") where "dispatched_at" is null;');
    // Room on each page for the new row version of an update: a job is written about four times
    // (insert, dispatched, started, finished), and with room and no indexed column changed,
    // PostgreSQL updates it in place (HOT) without touching any index.
    this.addSql("alter table \"jobs\" set (fillfactor = 70);");
  }

  override down(): void {
    this.addSql('drop index if exists "jobs_undispatched_index";');
    this.addSql('create index "jobs_status_created_at_index" on "jobs" ("status", "created_at");');
    this.addSql("alter table \"jobs\" reset (fillfactor);");
  }
}
