/**
 * Lost attempts: attempts that ended without an outcome because their worker died or lost the job
 * (`stalled`), or that are still `running` while the job is being delivered again (they are about to
 * be recorded stalled). A job whose latest attempts were all lost is likely killing its process: the
 * worker runtime fails it instead of starting it again (workers/poison-guard.ts).
 */
import type { Ledger } from './ledger.js';
import { decodeJson, toNumber } from './sql.js';

/**
 * How many of the job's most recent attempts, since its last operator retry (a new life starts
 * with a fresh budget), were lost in a row. Looks at `lookBack` attempts at most.
 */
export async function countLostAttemptsInARow(ledger: Ledger, jobId: string, lookBack: number): Promise<number> {
  return ledger.read(async (sql) => {
    const attempts = await sql.all('SELECT number, status FROM attempts WHERE job_id = ? ORDER BY number DESC LIMIT ?', [jobId, lookBack]);
    if (attempts.length === 0) return 0;
    const [retried] = await sql.all(
      `SELECT payload FROM events WHERE subject_type = 'job' AND subject_id = ? AND type = 'job.retried' ORDER BY seq DESC LIMIT 1`,
      [jobId],
    );
    const lifeStart = retried ? toNumber((decodeJson(sql.dialect, retried.payload) as { nextAttempt?: number } | null)?.nextAttempt ?? 0) : 0;
    let lost = 0;
    for (const attempt of attempts) {
      if (toNumber(attempt.number) < lifeStart) break;
      if (attempt.status !== 'stalled' && attempt.status !== 'running') break;
      lost++;
    }
    return lost;
  });
}
