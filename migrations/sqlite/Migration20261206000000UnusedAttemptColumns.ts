import { Migration } from '@mikro-orm/migrations';

/**
 * Drops two attempt columns nothing read. `fencing_token` was generated for every attempt and never
 * checked: late writes are fenced on the job's `current_attempt` (an outcome applies only while the
 * job is `running` with the attempt's number as its current one). `result` was never written: the
 * job row keeps the handler's result. Down adds them back, empty.
 */
export class Migration20261206000000UnusedAttemptColumns extends Migration {
  override up(): void {
    this.addSql('alter table "attempts" drop column "fencing_token";');
    this.addSql('alter table "attempts" drop column "result";');
  }

  override down(): void {
    this.addSql(`alter table "attempts" add column "fencing_token" text not null default '';`);
    this.addSql('alter table "attempts" add column "result" json null;');
  }
}
