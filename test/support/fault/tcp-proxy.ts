/**
 * A TCP proxy in front of the private Redis that fails on demand, the way networks do:
 *   cut()               every connection reset at once (clients see `close` and reconnect)
 *   blackhole()         connections, current and new, accepted but nothing forwarded either way
 *                       (a partition: no RST, no answer; clients notice only by timing out)
 *   blackholeExisting() current connections go silent forever, new ones work (half-open sockets
 *                       after a NAT or failover drop: the stuck-consumer incident)
 *   restore()           new connections forwarded again; silent ones are reset (the bytes they
 *                       swallowed are gone, so their Redis protocol stream could not resume)
 * Tracked by the leak check.
 */
import { createServer, Socket, type Server } from 'node:net';
import { track } from '../leak-check.js';

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Connections open now. */
  readonly connections: number;
  cut(): void;
  blackhole(): void;
  blackholeExisting(): void;
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  silent: boolean;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let mode: 'forward' | 'blackhole' = 'forward';

  const destroy = (pair: Pair): void => {
    pairs.delete(pair);
    pair.client.destroy();
    pair.upstream?.destroy();
  };

  const server: Server = createServer((client) => {
    const pair: Pair = { client, upstream: undefined, silent: mode === 'blackhole' };
    pairs.add(pair);
    client.on('error', () => destroy(pair));
    client.on('close', () => destroy(pair));
    client.on('data', (chunk) => {
      if (!pair.silent) pair.upstream?.write(chunk);
    });
    if (pair.silent) return; // never even reaches Redis
    const upstream = new Socket();
    pair.upstream = upstream;
    // Bytes the client sends before the upstream connects are queued by the socket itself.
    upstream.connect(targetPort, targetHost);
    upstream.on('data', (chunk) => {
      if (!pair.silent) client.write(chunk);
    });
    upstream.on('error', () => destroy(pair));
    upstream.on('close', () => destroy(pair));
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
      url: `redis://127.0.0.1:${address.port}`,
      get connections() {
        return pairs.size;
      },
      cut: () => {
        for (const pair of [...pairs]) destroy(pair);
      },
      blackhole: () => {
        mode = 'blackhole';
        for (const pair of pairs) pair.silent = true;
      },
      blackholeExisting: () => {
        for (const pair of pairs) pair.silent = true;
      },
      restore: () => {
        mode = 'forward';
        for (const pair of [...pairs]) if (pair.silent) destroy(pair);
      },
      close: async () => {
        for (const pair of [...pairs]) destroy(pair);
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    },
    `TCP proxy :${address.port} -> ${targetPort}`,
  );
}
