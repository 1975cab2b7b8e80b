/** Parsers for CLI option values; each throws a typed error naming the option. */
import { InvalidOptionError } from '../errors.js';
import { parseIsoTime } from '../iso-time.js';

export function parseInteger(option: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (raw: string): number => {
    if (!/^-?\d+$/.test(raw)) throw new InvalidOptionError(option, `a whole number from ${min} to ${max}`, raw);
    const value = Number(raw);
    if (value < min || value > max) throw new InvalidOptionError(option, `a whole number from ${min} to ${max}`, raw);
    return value;
  };
}

/**
 * An ISO date/time, or a span back from now: `30s`, `15m`, `2h`, `7d`. Returns epoch ms. A span
 * reaching back before 1970, or a date outside 1970 to Date's last day, is refused.
 */
export function parseSince(raw: string, now = Date.now()): number {
  const expected = 'an ISO date (2026-11-22T10:00:00Z) after 1970, or a span like 15m, 2h, 7d reaching back no further than 1970';
  const span = /^(\d+)(s|m|h|d)$/.exec(raw);
  if (span) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[span[2] as 's' | 'm' | 'h' | 'd'];
    const back = Number(span[1]) * unit;
    if (!Number.isSafeInteger(back) || back > now) throw new InvalidOptionError('--since', expected, raw);
    return now - back;
  }
  const time = parseIsoTime(raw);
  if (time === undefined || time < 0) throw new InvalidOptionError('--since', expected, raw);
  return time;
}

/** A time option other than `--since` (`--until`): the same forms, the error naming `option`. */
export function parseTimeOption(option: string, raw: string): number {
  try {
    return parseSince(raw);
  } catch (error) {
    if (error instanceof InvalidOptionError) throw new InvalidOptionError(option, 'an ISO date after 1970, or a span like 15m, 2h, 7d (that long ago)', raw);
    throw error;
  }
}

/** `path=value` pairs for payload filters. */
export function parseWhere(raw: string, previous: Record<string, string> = {}): Record<string, string> {
  const at = raw.indexOf('=');
  if (at <= 0) throw new InvalidOptionError('--where', 'path=value, e.g. customer.id=42', raw);
  return { ...previous, [raw.slice(0, at)]: raw.slice(at + 1) };
}

export function parseJsonObject(option: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    throw new InvalidOptionError(option, `JSON (${(error as Error).message})`, raw);
  }
}
