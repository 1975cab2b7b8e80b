/**
 * Fails a test that leaves a JobLedger, a worker or a ledger connection open. Tests open them through
 * `track(...)` (or the helpers in harness.ts, which do); after each test anything still open is
 * closed and reported as a failure.
 */
import { afterEach, expect } from 'vitest';

interface Closable {
  close(): Promise<unknown>;
}

const open = new Map<Closable, string>();

export function track<T extends Closable>(resource: T, label: string): T {
  open.set(resource, label);
  const close = resource.close.bind(resource);
  resource.close = async () => {
    open.delete(resource);
    return close();
  };
  return resource;
}

afterEach(async () => {
  const leaked = [...open.entries()];
  open.clear();
  await Promise.allSettled(leaked.map(([resource]) => resource.close()));
  expect(leaked.map(([, label]) => label), 'resources left open by the test').toEqual([]);
});
