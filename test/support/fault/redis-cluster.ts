/**
 * A Redis Cluster of the test's own: six `redis-server` processes in cluster mode on free loopback
 * ports (three masters, one replica each), without persistence, joined with
 * `redis-cli --cluster create`. The tests run jobledger on it and SIGKILL a master to watch its
 * replica take over. Shared by a file's tests, so not tracked by the per-test leak check: the file
 * closes it in `afterAll`, which SIGKILLs every server and removes the directory.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePort, withServerAt } from './redis-server.js';

const run = promisify(execFile);

export interface ClusterNode {
  readonly port: number;
  /** False once SIGKILLed. */
  readonly alive: boolean;
}

export interface PrivateRedisCluster {
  readonly nodes: readonly ClusterNode[];
  /** `127.0.0.1:P1,127.0.0.1:P2,...`: the value of JOBLEDGER_REDIS_CLUSTER_NODES. */
  readonly seeds: string;
  /** The port of the master that serves `key`'s hash slot now (as the live nodes see it). */
  masterOf(key: string): Promise<number>;
  /** SIGKILLs the server on `port` (nothing is saved) and waits for it to exit. */
  kill(port: number): Promise<void>;
  /**
   * Waits until every live node reports `cluster_state:ok` and a master other than `deadPort`
   * serves `key` (after a kill: the replica has been promoted). Returns how long that took.
   */
  waitOk(options?: { key?: string; deadPort?: number; timeoutMs?: number }): Promise<number>;
  close(): Promise<void>;
}

/** `bus` is a node's cluster bus port (port + 10000): both must be free. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port + 10_000 > 65_535 || taken.has(port)) continue;
    // The bus port is probed by binding it too.
    const bus = await import('node:net').then(
      (net) =>
        new Promise<boolean>((resolve) => {
          const server = net.createServer();
          server.once('error', () => resolve(false));
          server.listen(port + 10_000, '127.0.0.1', () => server.close(() => resolve(true)));
        }),
    );
    if (bus) {
      taken.add(port);
      return port;
    }
  }
}

export async function startRedisCluster(): Promise<PrivateRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'jobledger-redis-cluster-'));
  const taken = new Set<number>();
  const ports: number[] = [];
  for (let i = 0; i < 6; i++) ports.push(await freeClusterPort(taken));
  const children = new Map<number, { child: ChildProcess; exited: Promise<void>; alive: boolean }>();

  const killAll = async (): Promise<void> => {
    for (const entry of children.values()) if (entry.child.exitCode === null && entry.child.signalCode === null) entry.child.kill('SIGKILL');
    await Promise.all([...children.values()].map((e) => e.exited));
  };

  try {
    for (const port of ports) {
      const args = [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--dir', dir, '--maxmemory-policy', 'noeviction',
        '--daemonize', 'no', '--loglevel', 'warning',
      ];
      const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child.stderr?.resume();
      const entry = { child, alive: true, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) };
      void entry.exited.then(() => (entry.alive = false));
      children.set(port, entry);
    }
    for (const port of ports) {
      const deadline = Date.now() + 10_000;
      while (!(await withServerAt(port, (r) => r.ping()).catch(() => undefined))) {
        if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
        await sleep(20);
      }
    }
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1', '--cluster-yes'], { timeout: 30_000 });
  } catch (error) {
    await killAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  const liveNodes = (): number[] => ports.filter((p) => children.get(p)!.alive);

  const masterOf = async (key: string): Promise<number> => {
    for (const port of liveNodes()) {
      const found = await withServerAt(port, async (redis) => {
        const slot = await redis.cluster('KEYSLOT', key);
        // Each range: [first slot, last slot, [master host, master port, ...], ...replicas].
        const range = (await redis.cluster('SLOTS')).find(([from, to]) => slot >= from && slot <= to);
        return range?.[2]?.[1];
      }).catch(() => undefined);
      if (found !== undefined) return found;
    }
    throw new Error(`no live node of the cluster knows the master of ${key}`);
  };

  const cluster: PrivateRedisCluster = {
    nodes: ports.map((port) => ({
      port,
      get alive() {
        return children.get(port)!.alive;
      },
    })),
    seeds: ports.map((p) => `127.0.0.1:${p}`).join(','),
    masterOf,
    kill: async (port) => {
      const entry = children.get(port);
      if (!entry) throw new Error(`no node on port ${port}`);
      if (entry.alive) entry.child.kill('SIGKILL');
      await entry.exited;
    },
    waitOk: async ({ key = 'x', deadPort, timeoutMs = 30_000 } = {}) => {
      const started = Date.now();
      for (;;) {
        const states = await Promise.all(
          liveNodes().map((port) => withServerAt(port, async (redis) => /cluster_state:ok/.test((await redis.cluster('INFO')))).catch(() => false)),
        );
        if (states.every(Boolean)) {
          const master = await masterOf(key).catch(() => undefined);
          if (master !== undefined && master !== deadPort && children.get(master)?.alive) return Date.now() - started;
        }
        if (Date.now() - started > timeoutMs) throw new Error(`the Redis cluster did not reach cluster_state:ok within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    close: async () => {
      await killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await cluster.waitOk();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}
