/**
 * Parsers for single configuration values: each reads one variable's text and either returns its
 * value or throws an `InvalidConfigError` naming the variable, what it expects and what it got.
 */
import { InvalidConfigError } from './errors.js';

/** The value with surrounding blanks removed, or undefined when unset or blank (blank means the default). */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** ioredis parses REDIS_URL with `new URL()`, whose error would carry the whole URL as its `input`. */
export function canParseUrl(url: string): boolean {
  try {
    new URL(url);
    return true;
  } catch {
    return false;
  }
}

export function parseInteger(name: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(raw)) throw new InvalidConfigError(`${name}: expected a whole number, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
    throw new InvalidConfigError(`${name}: expected a whole number ${range}, got ${raw}`);
  }
  return value;
}

/** A host name or IP address to bind: letters, digits and `.`, `-`, `:` (IPv6), nothing else. */
export function parseHost(name: string, raw: string): string {
  if (!/^[A-Za-z0-9.:-]+$/.test(raw)) throw new InvalidConfigError(`${name}: expected a host name or IP address, got ${JSON.stringify(raw)}`);
  return raw;
}

export function parseBoolean(name: string, raw: string): boolean {
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new InvalidConfigError(`${name}: expected true or false, got ${JSON.stringify(raw)}`);
}

/** A whole number of days, or `never` (the word that means "no limit": `forever`, `off`) as null. */
export function parseDays(name: string, raw: string, never: 'forever' | 'off'): number | null {
  if (raw === never) return null;
  if (!/^\d+$/.test(raw)) throw new InvalidConfigError(`${name}: expected a whole number of days or "${never}", got ${JSON.stringify(raw)}`);
  return parseInteger(name, raw, 0);
}

/** `a=1,b=2` into pairs; an empty string is no pairs. */
export function parsePairs(name: string, raw: string): [string, string][] {
  if (raw === '') return [];
  return raw.split(',').map((item) => {
    const at = item.indexOf('=');
    const key = item.slice(0, at).trim();
    const value = item.slice(at + 1).trim();
    if (at <= 0 || key === '' || value === '') throw new InvalidConfigError(`${name}: expected key=value pairs separated by commas, got ${JSON.stringify(item)}`);
    return [key, value];
  });
}

/**
 * `queue=days,...` into a record by queue. Properties are defined, not assigned: a queue may be
 * named `__proto__`.
 */
export function parseDaysByQueue(name: string, raw: string, never: 'forever' | 'off'): Readonly<Record<string, number | null>> {
  const byQueue: Record<string, number | null> = {};
  for (const [queue, days] of parsePairs(name, raw)) {
    Object.defineProperty(byQueue, queue, { value: parseDays(`${name} (${queue})`, days, never), enumerable: true });
  }
  return Object.freeze(byQueue);
}

/** The closest known name to a misspelt one, if it is close enough to be a likely typo. */
export function didYouMean(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(3, Math.floor(name.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
