/**
 * What a PostgreSQL restart, a failover, a pooler or an idle timeout does to a client's connections,
 * done to one test database only: `pg_terminate_backend` on its server processes (never the shared
 * server's others, never a restart of it). `terminateBackends` does it once; `startBackendKiller`
 * in a loop, at random intervals, to a random share of them each time. Tracked by the leak check.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { track } from '../leak-check.js';

/** Terminates each server process of `database` with probability `share`; returns how many went. */
export async function terminateBackends(client: pg.Client, database: string, share = 1): Promise<number> {
  const { rows } = await client.query<{ terminated: boolean }>(
    `SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
     WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND random() < $2`,
    [database, share],
  );
  return rows.filter((r) => r.terminated).length;
}

export interface BackendKiller {
  /** Server processes terminated so far. */
  readonly terminated: number;
  readonly rounds: number;
  /** Stops the loop; resolves with the totals. */
  stop(): Promise<{ terminated: number; rounds: number }>;
  close(): Promise<unknown>;
}

export async function startBackendKiller(options: {
  adminUrl: string;
  database: string;
  /** Pause between rounds, drawn uniformly from this range (ms). */
  intervalMs: readonly [number, number];
  /** Share of the database's server processes each round terminates. */
  share: number;
}): Promise<BackendKiller> {
  const client = new pg.Client({ connectionString: options.adminUrl });
  await client.connect();
  let terminated = 0;
  let rounds = 0;
  let stopped = false;
  const [min, max] = options.intervalMs;
  const loop = (async () => {
    while (!stopped) {
      await sleep(min + Math.random() * (max - min));
      if (stopped) break;
      terminated += await terminateBackends(client, options.database, options.share);
      rounds++;
    }
  })();
  let finished: Promise<{ terminated: number; rounds: number }> | undefined;
  const stop = (): Promise<{ terminated: number; rounds: number }> =>
    (finished ??= (async () => {
      stopped = true;
      await loop;
      await client.end();
      return { terminated, rounds };
    })());
  const killer: BackendKiller = {
    get terminated() {
      return terminated;
    },
    get rounds() {
      return rounds;
    },
    // Through `close`, which the leak check wraps: a stopped killer is no leak.
    stop: () => killer.close() as Promise<{ terminated: number; rounds: number }>,
    close: stop,
  };
  return track(killer, `backend killer on ${options.database}`);
}
