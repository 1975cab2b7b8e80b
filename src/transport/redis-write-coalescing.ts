/**
 * Coalesces the commands a worker sends to Redis in one tick into a few socket writes.
 *
 * Why: after each group commit, a batch's jobs (17 on average in the SQLite bench) all resolve in
 * the same tick and each calls BullMQ's `moveToFinished`, which ioredis writes to the socket at
 * once: one `write` system call per command, each waking a Redis that sat idle during the commit.
 * In the bench profiles those writes cost the jobledger worker about twice what they cost bare
 * BullMQ per job (22 against 13 µs). Here writes made while a chunk is open are held by the socket
 * (`cork`) and leave together (`writev`) when the chunk holds `maxPerWrite` commands, or at the end
 * of the tick (`process.nextTick` runs after the current callback and its promise reactions, before
 * any I/O), so nothing waits for a later turn of the event loop.
 *
 * Why chunks and not the whole tick: holding a whole batch's commands until the last one (tried
 * earlier) cut the worker's CPU but lowered throughput, because Redis then sat idle until the end of
 * the burst and took it all at once. Chunks of 8 keep Redis working on the first commands while the
 * worker writes the next. Measured on 2026-12-04 (SQLite ledger, alternating single runs, 40,000
 * and 60,000 jobs): end to end 14 of 18 pairs faster, medians about 9% higher (60,000 jobs: 5,922
 * against 5,409 jobs/s), worker CPU per job about 10% lower.
 *
 * Order is kept (corked writes leave in order) and nothing is dropped: every open chunk is closed
 * by its own `nextTick`, for the socket it was opened on, even after a reconnect replaced it.
 */
import type { Writable } from 'node:stream';
import type { Cluster, Redis } from 'ioredis';

/** Commands per `writev` while a burst lasts. */
const defaultMaxPerWrite = 8;

const coalescing = new WeakSet<Writable>();

/**
 * Coalesces `client`'s writes on its current socket and on every socket a reconnect opens; for a
 * Redis Cluster, on the connection of every node it holds or adds later.
 */
export function coalesceRedisWrites(client: Redis | Cluster, maxPerWrite = defaultMaxPerWrite): void {
  if ('isCluster' in client && client.isCluster) {
    const cluster = client as Cluster;
    for (const node of cluster.nodes('all')) coalesceRedisWrites(node, maxPerWrite);
    cluster.on('+node', (node: Redis) => coalesceRedisWrites(node, maxPerWrite));
    return;
  }
  const install = (): void => {
    const stream = (client as unknown as { stream?: Writable }).stream;
    if (stream) coalesceWrites(stream, maxPerWrite);
  };
  install();
  // ioredis opens a new socket on each (re)connect and emits `connect` before the ready check and
  // the offline queue's commands are written.
  client.on('connect', install);
}

/** Makes `stream.write` hold writes until `maxPerWrite` are held or the tick ends. Idempotent. */
export function coalesceWrites(stream: Writable, maxPerWrite = defaultMaxPerWrite): void {
  if (!Number.isInteger(maxPerWrite) || maxPerWrite < 1) {
    throw new RangeError(`maxPerWrite must be a positive integer, got ${String(maxPerWrite)}`);
  }
  if (coalescing.has(stream)) return;
  coalescing.add(stream);
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  let held = 0;
  const release = (): void => {
    if (held === 0) return;
    held = 0;
    stream.uncork();
  };
  stream.write = ((...args: unknown[]): boolean => {
    if (held === 0) {
      stream.cork();
      process.nextTick(release);
    }
    held++;
    const accepted = write(...args);
    if (held >= maxPerWrite) release();
    return accepted;
  }) as Writable['write'];
}

/** Whether `stream`'s writes are coalesced (for tests and diagnostics). */
export function isCoalescing(stream: Writable): boolean {
  return coalescing.has(stream);
}
