/**
 * Write coalescing on the worker's Redis connection: the commands of one tick leave in chunks of a
 * few per write, in order, and none is held past the tick; a reconnect's new socket coalesces too.
 */
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { coalesceRedisWrites, coalesceWrites, isCoalescing } from '../src/transport/redis-write-coalescing.js';
import { track } from './support/leak-check.js';
import { testRedisUrl } from './support/services.js';

/** A stream that records which chunks reached it together (one `writev`, or one `write`). */
function recordingStream(): { stream: Writable; writes: string[][] } {
  const writes: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push([chunk.toString()]);
      callback();
    },
    writev(chunks, callback) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      callback();
    },
  });
  return { stream, writes };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Redis write coalescing', () => {
  it('sends the writes of one tick in chunks of at most maxPerWrite, in order', async () => {
    const { stream, writes } = recordingStream();
    coalesceWrites(stream, 3);
    for (const n of [1, 2, 3, 4, 5, 6, 7]) stream.write(String(n));
    expect(writes).toEqual([['1', '2', '3'], ['4', '5', '6']]);
    await tick();
    expect(writes).toEqual([['1', '2', '3'], ['4', '5', '6'], ['7']]);
  });

  it('holds nothing past the tick, and writes of a later tick start a new chunk', async () => {
    const { stream, writes } = recordingStream();
    coalesceWrites(stream, 8);
    stream.write('a');
    await Promise.resolve(); // promise reactions of the same tick still join the chunk
    stream.write('b');
    await tick();
    stream.write('c');
    await tick();
    expect(writes).toEqual([['a', 'b'], ['c']]);
  });

  it('is idempotent and rejects a chunk size that is not a positive integer', () => {
    const { stream, writes } = recordingStream();
    coalesceWrites(stream, 2);
    coalesceWrites(stream, 2);
    stream.write('x');
    stream.write('y');
    expect(writes).toEqual([['x', 'y']]);
    expect(() => coalesceWrites(recordingStream().stream, 0)).toThrow(/positive integer, got 0/);
    expect(() => coalesceWrites(recordingStream().stream, 1.5)).toThrow(/positive integer, got 1.5/);
  });

  it('coalesces a real connection, keeps replies matched to commands, and survives a reconnect', async () => {
    const client = new Redis(await testRedisUrl(), { maxRetriesPerRequest: null });
    const opened = track({ close: () => client.quit() }, 'Redis client');
    coalesceRedisWrites(client, 4);
    const key = `coalesce-test:${process.pid}:${Date.now()}`;
    try {
      await client.ping();
      const first = (client as unknown as { stream: Writable }).stream;
      expect(isCoalescing(first)).toBe(true);
      const replies = await Promise.all(Array.from({ length: 25 }, (_, i) => client.incrby(key, i + 1)));
      expect(replies).toEqual(Array.from({ length: 25 }, (_, i) => ((i + 1) * (i + 2)) / 2));

      client.disconnect(true);
      await new Promise((resolve) => client.once('ready', resolve));
      const second = (client as unknown as { stream: Writable }).stream;
      expect(second).not.toBe(first);
      expect(isCoalescing(second)).toBe(true);
      const after = await Promise.all(Array.from({ length: 10 }, () => client.incr(key)));
      expect(after).toEqual(Array.from({ length: 10 }, (_, i) => 325 + i + 1));
    } finally {
      await client.del(key);
      await opened.close();
    }
  });
});
