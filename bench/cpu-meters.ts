/**
 * CPU time spent by the processes of an end-to-end phase, so that the report can say where a job's
 * cost goes (worker, Redis, PostgreSQL) and not only how fast the whole ran. On this 2-core machine
 * the three share the cores: a ratio to bare BullMQ is bounded by total CPU per job as much as by
 * any one of them.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU seconds used so far by the services a run measures (undefined where it cannot be read). */
export interface ServiceCpu {
  redis?: number;
  postgres?: number;
}

/** Redis's own CPU (user + system) so far, in seconds, from INFO on a connection the caller holds. */
export async function redisCpuSeconds(redis: { info(section: string): Promise<string> }): Promise<number | undefined> {
  try {
    const info = await redis.info('cpu');
    const user = /used_cpu_user:([\d.]+)/.exec(info)?.[1];
    const system = /used_cpu_sys:([\d.]+)/.exec(info)?.[1];
    return user !== undefined && system !== undefined ? Number(user) + Number(system) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * CPU (user + system) of every local process named `postgres`, in seconds, from /proc (Linux, and a
 * server on the same host only; undefined otherwise). The server runs the benchmark's database alone
 * while the bench runs, so the difference over a phase is that phase's database work, provided
 * both readings are taken while that work's connections are open: an exited backend's CPU leaves
 * the sum with it.
 */
export function localPostgresCpuSeconds(): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const ticksPerSecond = 100; // USER_HZ: 100 on every Linux the bench targets
  let ticks = 0;
  let found = false;
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      // Fields after the command: state is field 3, utime 14 and stime 15 (1-based, man proc).
      const fields = stat.slice(close + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
      found = true;
    } catch {
      // The process ended while we read: its CPU is gone from the sum, as it is from the server.
    }
  }
  return found ? ticks / ticksPerSecond : undefined;
}
