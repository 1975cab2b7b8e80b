import { Migration } from '@mikro-orm/migrations';

/**
 * Durations as BIGINT, like every other millisecond column. As 32-bit `int` an attempt (or a
 * maintenance run) that ended 2^31 ms (about 24.9 days) after it began could not be written at
 * all: its outcome, its stalled mark and its loss were refused, and the attempt stayed `running`.
 * SQLite's INTEGER is 64-bit already. Down narrows them again (and fails on a longer duration).
 */
export class Migration20261206010000LongDurations extends Migration {
  override up(): void {
    this.addSql('alter table "attempts" alter column "duration_ms" type bigint;');
    this.addSql('alter table "maintenance_runs" alter column "duration_ms" type bigint;');
  }

  override down(): void {
    this.addSql('alter table "attempts" alter column "duration_ms" type int;');
    this.addSql('alter table "maintenance_runs" alter column "duration_ms" type int;');
  }
}
