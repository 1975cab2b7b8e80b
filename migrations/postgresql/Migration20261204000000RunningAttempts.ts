import { Migration } from '@mikro-orm/migrations';

/**
 * Only running attempts are indexed by heartbeat. Every query that reads the index asks for
 * `status = 'running'` (stale attempts, the health check, heartbeats), but the old
 * `attempts_status_heartbeat_at_index` kept one entry for every attempt ever made, and a finishing
 * attempt moved its entry from the `running` range to its final status's. Now a start adds one entry
 * and a finish removes it, so the index stays as small as the number of attempts running, and the
 * ledger gets smaller by one index entry per attempt.
 */
export class Migration20261204000000RunningAttempts extends Migration {
  override up(): void {
    this.addSql('drop index if exists "attempts_status_heartbeat_at_index";');
    this.addSql(`create index "attempts_running_heartbeat_at_index" on "attempts" ("heartbeat_at") where "status" = 'running';`);
  }

  override down(): void {
    this.addSql('drop index if exists "attempts_running_heartbeat_at_index";');
    this.addSql('create index "attempts_status_heartbeat_at_index" on "attempts" ("status", "heartbeat_at");');
  }
}
