/** Assertions shared by the behaviour tests. */
import { expect } from 'vitest';
import type { EventRow } from '../../src/store/entities/index.js';

/** A subject's events are numbered 1..n: a gap or a duplicate would mean a lost or doubled write. */
export function expectGaplessSeq(events: readonly EventRow[]): void {
  expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
}
