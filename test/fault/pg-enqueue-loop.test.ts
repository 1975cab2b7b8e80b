/**
 * The smallest case of the fault: a plain `enqueue` loop with try/catch, in a process of its own,
 * beside a loop terminating every server process of its database every 0.2 s (PostgreSQL; what a
 * restart, a failover, a pooler or an idle timeout does to a client). It runs to its end: every
 * call returns or throws a coded error, and every job it was told about is in the ledger, once.
 */
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startChildEnqueueLoop } from '../support/child-worker.js';
import { testPostgresAdminUrl } from '../support/services.js';
import { terminateBackends } from '../support/fault/backend-killer.js';
import { openFaultBackend, scaled } from '../support/fault/scenario.js';

describe('a plain enqueue loop on PostgreSQL', () => {
  it('a plain enqueue loop with try/catch outlives its backends terminated every 0.2 s', async () => {
    const b = await openFaultBackend('postgresql');
    const database = decodeURIComponent(new URL(b.config.database.url).pathname.slice(1));
    const admin = new pg.Client({ connectionString: await testPostgresAdminUrl() });
    await admin.connect();
    const jobs = scaled(500);
    const loop = await startChildEnqueueLoop(b.config, { REDIS_URL: b.redis.url, LOOP_JOBS: String(jobs) });
    let terminated = 0;
    let running = true;
    void loop.exited.then(() => (running = false));
    while (running) {
      terminated += await terminateBackends(admin, database);
      await sleep(200);
    }
    await admin.end();
    const exit = await loop.exited;
    const acked = loop.lines().filter((l) => l.startsWith('ACK ')).map((l) => l.split(' ')[1]!);
    const errors = loop.lines().filter((l) => l.startsWith('ERR '));
    expect(exit, `the loop's process ran to its end; stderr:\n${loop.stderr()}`).toEqual({ code: 0, signal: null });
    expect(loop.lines()).toContain('DONE');
    expect(terminated, 'the faults must land').toBeGreaterThan(10);
    // Every call returned or threw a coded error; every job it acknowledged is in the ledger, once.
    expect(errors.filter((e) => !/^ERR JOBLEDGER_/.test(e))).toEqual([]);
    expect(acked.length + errors.length).toBe(jobs);
    const [row] = await b.jl.ledger.read((sql) => sql.all('SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM jobs'));
    expect({ n: Number(row?.n), d: Number(row?.d) }).toEqual({ n: acked.length, d: acked.length });
    if (process.env.FAULT_REPORT) {
      const figures = { calls: jobs, acknowledged: acked.length, errors: errors.length, backendsTerminated: terminated, processesExited: 0 };
      appendFileSync(process.env.FAULT_REPORT, `${JSON.stringify({ scenario: 'plain enqueue loop, backends terminated every 0.2 s', backend: 'postgresql', ...figures })}\n`);
    }
    await b.close();
  }, 240_000);
});
