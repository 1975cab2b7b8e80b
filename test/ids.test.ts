import { decodeTime } from 'ulid';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidIdError } from '../src/errors.js';
import { assertId, isId, newId } from '../src/store/ids.js';

/** The ULID part of an id. */
const newUlid = (): string => newId('att').slice(4);

describe('ids', () => {
  afterEach(() => vi.restoreAllMocks());
  // The generator never goes back in time, so each test's fake clock starts past every id made so far.
  let clock = Date.now() + 60_000;
  const later = (): number => (clock += 60_000);

  it('are a kind prefix and a ULID whose time is when it was made', () => {
    const before = Date.now();
    const id = newId('evt');
    const after = Date.now();
    expect(id).toMatch(/^evt_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(isId('evt', id)).toBe(true);
    expect(isId('job', id)).toBe(false);
    const time = decodeTime(id.slice(4));
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
  });

  it('sort in the order they were made, within a millisecond and across kinds', () => {
    const ms = later();
    vi.spyOn(Date, 'now').mockReturnValue(ms);
    const made = Array.from({ length: 5000 }, (_, i) => (i % 2 ? newId('att') : newId('evt')).slice(4));
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual(made);
    expect(made.every((u) => decodeTime(u) === ms)).toBe(true);
  });

  it('keep increasing when the clock steps back', () => {
    const ms = later();
    const now = vi.spyOn(Date, 'now').mockReturnValue(ms);
    const first = newUlid();
    now.mockReturnValue(ms - 400);
    const second = newUlid();
    expect(second > first).toBe(true);
    expect(decodeTime(second)).toBe(ms);
    now.mockReturnValue(ms + 1);
    const third = newUlid();
    expect(decodeTime(third)).toBe(ms + 1);
    expect(third > second).toBe(true);
  });

  it('draws a new random part each millisecond', () => {
    const now = vi.spyOn(Date, 'now');
    const start = later();
    const randoms = new Set<string>();
    for (let ms = 0; ms < 200; ms++) {
      now.mockReturnValue(start + ms);
      randoms.add(newUlid().slice(10));
    }
    expect(randoms.size).toBe(200);
  });

  it('rejects a value of the wrong kind or shape with a typed error', () => {
    expect(() => assertId('job', newId('run'))).toThrow(InvalidIdError);
    expect(() => assertId('job', 'job_123')).toThrow(InvalidIdError);
    expect(assertId('job', 'job_01M90J6V0YMGPEC99A2FZPVWEW')).toBe('job_01M90J6V0YMGPEC99A2FZPVWEW');
  });
});
