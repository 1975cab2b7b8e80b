/**
 * A PostgreSQL cluster of the test's own, for scenarios that stop and start the server (the shared
 * one on 5432 must never be stopped: other tests use it). `initdb` and `pg_ctl` from the newest
 * /usr/lib/postgresql/<version>/bin (or TEST_POSTGRES_BIN), a data directory in a temporary
 * directory of the run, a free port on 127.0.0.1, trust authentication for `postgres`, and no
 * fsync (the tests stop it cleanly or not at all; durability across a power loss is not what they
 * measure). PostgreSQL refuses to run as root: as root, the commands run as the `postgres` user
 * through `runuser`, in a directory it owns. Tracked by the leak check: closing it stops the server
 * at once and removes the directory.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { userInfo } from 'node:os';
import pg from 'pg';
import { track } from '../leak-check.js';
import { runDirectory } from '../test-run.js';
import { freePort } from './redis-server.js';

const run = promisify(execFile);

export interface PrivatePostgres {
  readonly port: number;
  /** The `postgres` maintenance database's URL. */
  readonly adminUrl: string;
  /** Creates a database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server the way `pg_ctlcluster stop` does (mode fast: every connection terminated). */
  stop(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  start(): Promise<void>;
  readonly running: boolean;
  close(): Promise<void>;
}

/** The directory holding initdb and pg_ctl: TEST_POSTGRES_BIN, else the newest installed version. */
export function postgresBinDirectory(): string {
  if (process.env.TEST_POSTGRES_BIN) return process.env.TEST_POSTGRES_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (!versions[0]) throw new Error(`no PostgreSQL server binaries under ${root}; install postgresql or set TEST_POSTGRES_BIN`);
  return join(root, versions[0], 'bin');
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBinDirectory();
  const dir = runDirectory();
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = userInfo().uid === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: group } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(group.trim()));
  }
  const pgCommand = (tool: string, args: string[]): Promise<{ stdout: string; stderr: string }> =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);

  await pgCommand('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  let running = false;
  const start = async (): Promise<void> => {
    await pgCommand('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    running = true;
  };
  const stopWith = async (mode: 'fast' | 'immediate'): Promise<void> => {
    if (!running) return;
    await pgCommand('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop']);
    running = false;
  };
  await start();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return track(
    {
      port,
      adminUrl,
      get running() {
        return running;
      },
      createDatabase: async (name: string) => {
        const client = new pg.Client({ connectionString: adminUrl });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      stop: () => stopWith('fast'),
      start,
      close: async () => {
        await stopWith('immediate').catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      },
    },
    `private PostgreSQL :${port}`,
  );
}
