import { describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';

describe.each(backends)('concurrent state batches on %s', (dialect) => {
  it('never deadlock when they touch the same keys in opposite orders', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const forward = [
      { namespace: 'accounts', key: 'a', data: { from: 'forward' } },
      { namespace: 'accounts', key: 'b', data: { from: 'forward' } },
    ];
    const backward = [...forward].reverse().map((item) => ({ ...item, data: { from: 'backward' } }));
    const rounds = Array.from({ length: 20 }, (_, i) => jl.state.setMany(i % 2 ? forward : backward));
    const results = await Promise.allSettled(rounds);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    // Every batch landed as its own version of both keys.
    expect((await jl.state.get('accounts', 'a')).version).toBe(20);
    expect((await jl.state.get('accounts', 'b')).version).toBe(20);
    // Results come back in the caller's order, whatever order the rows were written in.
    const [first] = await jl.state.setMany(backward);
    expect(first?.key).toBe('b');
    await jl.close();
  });
});
