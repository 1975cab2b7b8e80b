/**
 * A TCP proxy in front of PostgreSQL that reads the client's side of the wire protocol, so that a
 * test can cut a connection at the one moment that matters: with a COMMIT in flight. Armed with a
 * `CutPlan`, the next commit point that matches is treated as the plan says:
 *
 *   after   the COMMIT reaches the server, then the connection is cut: the server commits, the
 *           client never hears it (the write landed, the client cannot know)
 *   before  the connection is cut instead of sending the COMMIT: the server rolls back
 *   hold    the client's side is cut, the server's kept open and silent, and the COMMIT delivered
 *           `holdMs` later (a packet late in a partitioned network): the server process sits in
 *           its open transaction meanwhile, and whoever reads before it commits sees nothing
 *
 * A commit point is a simple-protocol query (`COMMIT`, which the ledger and knex send that way) or,
 * for a statement that commits by itself, the Sync that ends an extended-protocol exchange whose
 * Bind named a matching statement (its text comes from the Parse that prepared it on that
 * connection). Everything else is forwarded untouched. Tracked by the leak check.
 */
import { createServer, Socket, type Server } from 'node:net';
import { track } from '../leak-check.js';

export type CutMode = 'after' | 'before' | 'hold';

export interface CutPlan {
  /** Which statement's commit to cut, by its SQL text (`COMMIT` for a transaction's). */
  match: (sql: string) => boolean;
  mode: CutMode;
  /** For `hold`: how long the held COMMIT waits before it is delivered. Default 1000. */
  holdMs?: number;
}

export interface CutReport {
  /** The statement whose commit was cut. */
  sql: string;
  mode: CutMode;
  /** The server process of the connection that was cut. */
  backendPid: number | undefined;
}

export interface PgProxy {
  readonly port: number;
  /** `targetUrl` with its host and port replaced by the proxy's. */
  url(targetUrl: string): string;
  /** Arms one cut; resolves with what was cut once it happened. */
  armCut(plan: CutPlan): Promise<CutReport>;
  /** Disarms a plan that never met its commit point. */
  disarm(): void;
  close(): Promise<void>;
}

const sslRequestCode = 80877103;

interface Armed {
  plan: CutPlan;
  resolve: (report: CutReport) => void;
}

export async function startPgProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<PgProxy> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let armed: Armed | undefined;

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    sockets.add(client).add(upstream);
    let backendPid: number | undefined;
    let cut = false;
    const statements = new Map<string, string>();
    let boundTexts: string[] = [];
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', () => {
      sockets.delete(client);
      if (!cut) upstream.destroy();
    });
    upstream.on('error', drop).on('close', () => {
      sockets.delete(upstream);
      if (!cut) client.destroy();
    });
    upstream.connect(targetPort, targetHost);

    /** Whether this message is an armed commit point; if so, carries the cut out and says so. */
    const cutAt = (type: string, message: Buffer, body: Buffer): boolean => {
      if (!armed) return false;
      let sql: string | undefined;
      if (type === 'Q') sql = cString(body, 0).value;
      if (type === 'S') sql = boundTexts.find((text) => armed!.plan.match(text));
      if (sql === undefined || !armed.plan.match(sql)) return false;
      const { plan, resolve } = armed;
      armed = undefined;
      cut = true;
      client.destroy();
      if (plan.mode === 'after') {
        upstream.end(message);
      } else if (plan.mode === 'before') {
        upstream.destroy();
      } else {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (!upstream.destroyed) upstream.end(message);
        }, plan.holdMs ?? 1000);
        timers.add(timer);
      }
      resolve({ sql, mode: plan.mode, backendPid });
      return true;
    };

    let pending = Buffer.alloc(0);
    let startup = true;
    // The server answers an SSL request with one untyped byte.
    let sslAnswerPending = false;
    client.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (cut) return;
        if (startup) {
          if (pending.length < 8) return;
          const length = pending.readInt32BE(0);
          if (pending.length < length) return;
          const message = pending.subarray(0, length);
          pending = pending.subarray(length);
          if (message.readInt32BE(4) === sslRequestCode) sslAnswerPending = true;
          else startup = false;
          upstream.write(message);
          continue;
        }
        if (pending.length < 5) return;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        const message = pending.subarray(0, 1 + length);
        const body = message.subarray(5);
        pending = pending.subarray(1 + length);
        const type = String.fromCharCode(message[0]!);
        if (type === 'P') {
          const name = cString(body, 0);
          statements.set(name.value, cString(body, name.next).value);
        } else if (type === 'B') {
          const portal = cString(body, 0);
          boundTexts.push(statements.get(cString(body, portal.next).value) ?? '');
        }
        if (cutAt(type, message, body)) return;
        if (type === 'S') boundTexts = [];
        upstream.write(message);
      }
    });

    // The server's side: forwarded as is, watched only for the connection's process id.
    let serverPending = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      if (!cut) client.write(chunk);
      if (backendPid !== undefined) return;
      serverPending = Buffer.concat([serverPending, chunk]);
      if (sslAnswerPending) {
        serverPending = serverPending.subarray(1);
        sslAnswerPending = false;
      }
      while (serverPending.length >= 5) {
        const length = serverPending.readInt32BE(1);
        if (serverPending.length < 1 + length) break;
        if (serverPending[0] === 'K'.charCodeAt(0)) {
          backendPid = serverPending.readInt32BE(5);
          serverPending = Buffer.alloc(0);
          break;
        }
        serverPending = serverPending.subarray(1 + length);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('proxy has no address');

  return track(
    {
      port: address.port,
      url: (targetUrl: string) => {
        const url = new URL(targetUrl);
        url.hostname = '127.0.0.1';
        url.port = String(address.port);
        return url.toString();
      },
      armCut: (plan: CutPlan) =>
        new Promise<CutReport>((resolve) => {
          armed = { plan, resolve };
        }),
      disarm: () => {
        armed = undefined;
      },
      close: async () => {
        armed = undefined;
        for (const timer of timers) clearTimeout(timer);
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    },
    `PostgreSQL proxy :${address.port} -> ${targetPort}`,
  );
}

/** A NUL-terminated string of `buffer` at `offset`, and the offset after it. */
function cString(buffer: Buffer, offset: number): { value: string; next: number } {
  const end = buffer.indexOf(0, offset);
  const stop = end === -1 ? buffer.length : end;
  return { value: buffer.toString('utf8', offset, stop), next: stop + 1 };
}
