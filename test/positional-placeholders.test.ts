import { describe, expect, it } from 'vitest';
import { databaseNowSql } from '../src/store/engine/database-clock.js';
import { findsJobsByBoundId, positional, selectsEveryColumn } from '../src/store/engine/postgres/executor.js';

describe('positional placeholders for PostgreSQL', () => {
  it('numbers every ? in order, casts included', () => {
    expect(positional('UPDATE jobs SET a = ?::bigint WHERE id = ? AND b IN (?, ?)')).toBe(
      'UPDATE jobs SET a = $1::bigint WHERE id = $2 AND b IN ($3, $4)',
    );
  });

  it('leaves ? inside quoted literals and identifiers alone, escaped quotes included', () => {
    expect(positional(`SELECT 'what?', 'it''s ?', "col?" FROM t WHERE x = ?`)).toBe(`SELECT 'what?', 'it''s ?', "col?" FROM t WHERE x = $1`);
  });

  it('gives the same text back for a statement without parameters', () => {
    expect(positional('COMMIT')).toBe('COMMIT');
  });

  it('keeps a statement named unless its result is every column: a * that multiplies or counts is not a wildcard', () => {
    for (const text of ['SELECT * FROM jobs', 'UPDATE jobs SET a = 1 RETURNING *', 'SELECT j.* FROM jobs j', 'SELECT id, * FROM jobs', 'select *\nfrom t']) {
      expect(selectsEveryColumn(text), text).toBe(true);
    }
    for (const text of [
      `INSERT INTO attempts (id, heartbeat_at) SELECT id, ${databaseNowSql('postgresql')} FROM rows`,
      'SELECT count(*) AS n FROM jobs',
      'UPDATE jobs SET version = version + 1 WHERE id = $1 RETURNING version',
    ]) {
      expect(selectsEveryColumn(text), text).toBe(false);
    }
  });

  it('tells a statement that finds jobs by a bound id (planned at each run, not named) from the batch statements and others', () => {
    for (const text of [
      'UPDATE jobs SET a = 1 WHERE id = ANY($3::text[])',
      'UPDATE jobs SET progress = $1 WHERE id = $4 AND current_attempt = $5 RETURNING version',
      'SELECT status, current_attempt, run_at, version FROM jobs WHERE id = $1',
      'SELECT 1 FROM jobs j WHERE jobs.id =any ( $1 )',
    ]) {
      expect(findsJobsByBoundId(text), text).toBe(true);
    }
    for (const text of [
      'UPDATE jobs SET status = v.status FROM unnest($1::text[], $2::text[]) AS v(id, status) WHERE jobs.id = v.id',
      'UPDATE attempts SET heartbeat_at = 1 WHERE id IN ($1, $2)',
      "UPDATE attempts SET status = 'stalled' WHERE job_id = $3 AND status = 'running'",
      'SELECT status FROM attempts WHERE id = $1',
      "SELECT 1 FROM jobs WHERE status = ANY('{queued,pending}')",
      'SELECT 1 FROM jobs WHERE run_id = $1',
    ]) {
      expect(findsJobsByBoundId(text), text).toBe(false);
    }
  });
});
