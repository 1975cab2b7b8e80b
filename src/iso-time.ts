/**
 * ISO 8601 date and time text as epoch milliseconds, strictly. `Date.parse` alone also takes V8's
 * legacy forms, so "5", "-5" and "1.5" read as days of 2001 and "2026-02-31" as March 3rd: a time
 * filter given a typo would quietly match the wrong rows. A leaf module: the CLI and the console
 * both use it.
 */
const isoPattern = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/i;

/** Epoch milliseconds of `raw`, or undefined if it is not an ISO date (and time) that exists. */
export function parseIsoTime(raw: string): number | undefined {
  const match = isoPattern.exec(raw);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match;
  // The calendar fields must name a real day and time (Date.parse rolls 2026-02-31 over to March).
  const y = Number(year);
  const m = Number(month);
  const d = Number(day);
  if (m < 1 || m > 12 || d < 1 || d > new Date(Date.UTC(y, m, 0)).getUTCDate()) return undefined;
  if (hour !== undefined && (Number(hour) > 23 || Number(minute) > 59 || (second !== undefined && Number(second) > 59))) return undefined;
  const time = Date.parse(raw);
  return Number.isNaN(time) ? undefined : time;
}
