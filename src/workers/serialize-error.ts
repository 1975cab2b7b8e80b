/**
 * Makes whatever a handler threw safe to store: an Error keeps its name, message, code and stack; a
 * string, undefined, null, a symbol, a circular object or anything else is described without
 * throwing. Total: a revoked proxy, a getter that throws or a hostile `toString`/`toJSON` yields a
 * description too, because a throw here would leave the attempt `running` in the ledger while
 * BullMQ fails the job. Messages and stacks are capped so one bad job cannot bloat the ledger, and
 * made storable on both dialects (NUL and lone surrogates replaced).
 */
import { storableText, type SerializedError } from '../store/index.js';

export function serializeError(thrown: unknown, maxChars: number): SerializedError {
  // `instanceof` itself throws on a revoked proxy.
  if (attempt(() => thrown instanceof Error, false)) {
    const error = thrown as Error;
    // Read through textOf: an Error's fields can be anything (a numeric name, a Symbol message that
    // makes V8's lazy `stack` getter throw, a throwing getter).
    const code = attempt(() => {
      const value = (error as { code?: unknown }).code;
      return typeof value === 'string' ? cap(value, 200) : typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
    }, undefined);
    const stack = textOf(() => (typeof error.stack === 'string' ? error.stack : undefined));
    return {
      name: cap(textOf(() => error.name) || 'Error', 200),
      message: cap(textOf(() => error.message) ?? '', maxChars),
      ...(code !== undefined ? { code } : {}),
      ...(stack ? { stack: cap(stack, maxChars) } : {}),
    };
  }
  const description = describeThrown(thrown);
  return { name: 'NonErrorThrown', message: cap(`a non-Error was thrown: ${description}`, maxChars), thrown: cap(description, maxChars) };
}

/** A description of any value, never a throw. */
export function describeThrown(value: unknown): string {
  return attempt(() => describe(value), 'an unreadable value');
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return `function ${attempt(() => String(value.name), '') || '(anonymous)'}`;
  if (typeof value === 'symbol') return attempt(() => value.toString(), 'a symbol');
  try {
    return JSON.stringify(value) ?? `a ${typeof value}`;
  } catch {
    // Circular or hostile (a throwing toJSON or getter, a revoked proxy): its tag and keys if readable.
    try {
      const keys = typeof value === 'object' ? Object.keys(value).slice(0, 10).join(', ') : '';
      return `${Object.prototype.toString.call(value)} with keys [${keys}] (not serialisable)`;
    } catch {
      return `an unreadable ${typeof value}`;
    }
  }
}

/** A property read as text, or undefined when it is missing or reading or converting it throws. */
function textOf(read: () => unknown): string | undefined {
  try {
    const value = read();
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'string') return value;
    if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || typeof value === 'symbol') return value.toString();
    return describeThrown(value);
  } catch {
    return undefined;
  }
}

function attempt<T, F>(read: () => T, fallback: F): T | F {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** Caps the length and makes the text storable (NUL and lone surrogates replaced). */
function cap(raw: string, max: number): string {
  if (raw.length <= max) return storableText(raw);
  const keep = max - 20;
  return storableText(`${raw.slice(0, keep)}... [${raw.length - keep} more]`);
}
