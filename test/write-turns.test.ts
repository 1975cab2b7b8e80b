/** The in-process turns of SQLite write transactions (store/engine/sqlite/write-turns.ts); no database needed. */
import { describe, expect, it } from 'vitest';
import { inTurn, WriteTurns } from '../src/store/engine/sqlite/write-turns.js';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('WriteTurns', () => {
  it('runs one turn at a time, first come first served, and a failed turn hands over too', async () => {
    const turns = new WriteTurns();
    const log: string[] = [];
    const gate = deferred();
    const first = turns.run(async () => {
      log.push('a starts');
      await gate.promise;
      log.push('a ends');
      throw new Error('a failed');
    });
    const second = turns.run(() => {
      log.push('b runs');
      return Promise.resolve('b');
    });
    const third = turns.run(() => {
      log.push('c runs');
      return Promise.resolve('c');
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log).toEqual(['a starts']);
    gate.resolve();
    await expect(first).rejects.toThrow('a failed');
    expect(await Promise.all([second, third])).toEqual(['b', 'c']);
    expect(log).toEqual(['a starts', 'a ends', 'b runs', 'c runs']);
  });

  it('lets a write that waited too long go ahead, so a turn held forever cannot hang the others', async () => {
    const turns = new WriteTurns(50);
    const never = deferred();
    void turns.run(() => never.promise);
    // Without the bound this would wait forever (and the test time out).
    expect(await turns.run(() => Promise.resolve('went ahead'))).toBe('went ahead');
    never.resolve();
  });

  it('runs at once where there are no turns (PostgreSQL)', async () => {
    expect(await inTurn(undefined, () => Promise.resolve(7))).toBe(7);
  });
});
