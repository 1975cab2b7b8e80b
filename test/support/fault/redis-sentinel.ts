/**
 * A Sentinel-watched Redis of the test's own: a master and one replica (`redis-server` without
 * persistence) and three Sentinels (`redis-server --sentinel`, quorum 2, a master is down after one
 * second without answers), all on free loopback ports. The tests run jobledger through the Sentinels
 * and SIGKILL the master to watch the replica take over. Shared by a file's tests, so not tracked by
 * the per-test leak check: the file closes it in `afterAll`, which SIGKILLs every server and removes
 * the directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, withServerAt } from './redis-server.js';

export const sentinelMasterName = 'jl-master';

export interface PrivateSentinelRedis {
  /** `127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3`: the value of JOBLEDGER_REDIS_SENTINELS. */
  readonly sentinels: string;
  /** The port of the master the Sentinels name now. */
  masterPort(): Promise<number>;
  /** SIGKILLs the server on `port` (nothing is saved) and waits for it to exit. */
  kill(port: number): Promise<void>;
  /**
   * Waits until the Sentinels name a master other than `deadPort` and that master answers as one.
   * Returns how long that took.
   */
  waitFailover(deadPort: number, timeoutMs?: number): Promise<number>;
  close(): Promise<void>;
}

export async function startSentinelRedis(): Promise<PrivateSentinelRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-redis-sentinel-'));
  const children = new Map<number, { child: ChildProcess; exited: Promise<void> }>();
  const start = (port: number, args: string[]): void => {
    const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    children.set(port, { child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) });
  };
  const killAll = async (): Promise<void> => {
    for (const { child } of children.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([...children.values()].map((e) => e.exited));
  };
  const waitAnswers = async (port: number): Promise<void> => {
    const deadline = Date.now() + 10_000;
    while (!(await withServerAt(port, (r) => r.ping()).catch(() => undefined))) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      await sleep(20);
    }
  };

  const data = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--loglevel', 'warning'];
  const master = await freePort();
  const replica = await freePort();
  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  try {
    start(master, ['--port', String(master), ...data]);
    await waitAnswers(master);
    start(replica, ['--port', String(replica), '--replicaof', '127.0.0.1', String(master), ...data]);
    await waitAnswers(replica);
    for (const port of sentinelPorts) {
      // A Sentinel rewrites its configuration file as it learns the setup: one writable file each.
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `sentinel monitor ${sentinelMasterName} 127.0.0.1 ${master} 2`,
          `sentinel down-after-milliseconds ${sentinelMasterName} 1000`,
          `sentinel failover-timeout ${sentinelMasterName} 10000`,
          `sentinel parallel-syncs ${sentinelMasterName} 1`,
          '',
        ].join('\n'),
      );
      start(port, [file, '--sentinel', '--loglevel', 'warning']);
    }
    for (const port of sentinelPorts) await waitAnswers(port);
  } catch (error) {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const named = async (): Promise<number | undefined> => {
    for (const port of sentinelPorts) {
      const address = await withServerAt(port, (r) => r.call('SENTINEL', 'get-master-addr-by-name', sentinelMasterName) as Promise<[string, string] | null>).catch(() => undefined);
      if (address) return Number(address[1]);
    }
    return undefined;
  };
  const setup: PrivateSentinelRedis = {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    masterPort: async () => {
      const port = await named();
      if (port === undefined) throw new Error('no Sentinel names a master');
      return port;
    },
    kill: async (port) => {
      const entry = children.get(port);
      if (!entry) throw new Error(`no server on port ${port}`);
      if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
      await entry.exited;
    },
    waitFailover: async (deadPort, timeoutMs = 30_000) => {
      const started = Date.now();
      for (;;) {
        const port = await named();
        if (port !== undefined && port !== deadPort) {
          const role = await withServerAt(port, (r) => r.call('ROLE') as Promise<unknown[]>).catch(() => undefined);
          if (role?.[0] === 'master') return Date.now() - started;
        }
        if (Date.now() - started > timeoutMs) throw new Error(`the Sentinels did not fail over within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    close: async () => {
      await killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  // The Sentinels know the replica once the master has told them of it (their INFO polling).
  const deadline = Date.now() + 20_000;
  for (;;) {
    const replicas = await withServerAt(sentinelPorts[0]!, (r) => r.call('SENTINEL', 'replicas', sentinelMasterName) as Promise<unknown[]>).catch(() => []);
    if (replicas.length > 0) break;
    if (Date.now() > deadline) {
      await setup.close();
      throw new Error('the Sentinels did not learn of the replica within 20 s');
    }
    await sleep(100);
  }
  return setup;
}
