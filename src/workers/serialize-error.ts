/**
 * Makes whatever a handler threw safe to store: an Error keeps its name, message, code and stack; a
 * string, undefined, a circular object or anything else is described without throwing. Messages and
 * stacks are capped so one bad job cannot bloat the ledger.
 */
import type { SerializedError } from '../store/outcome.js';

export function serializeError(thrown: unknown, maxChars: number): SerializedError {
  if (thrown instanceof Error) {
    // Read through textOf: an Error's fields can be anything (a numeric name, a Symbol message that
    // makes V8's lazy `stack` getter throw, a throwing getter), and a throw here would leave the
    // attempt `running` in the ledger while BullMQ fails the job.
    const code = textOf(() => {
      const value = (thrown as { code?: unknown }).code;
      return typeof value === 'string' || typeof value === 'number' ? value : undefined;
    });
    const stack = textOf(() => (typeof thrown.stack === 'string' ? thrown.stack : undefined));
    return {
      name: cap(textOf(() => thrown.name) || 'Error', 200),
      message: cap(textOf(() => thrown.message) ?? '', maxChars),
      ...(code !== undefined ? { code } : {}),
      ...(stack ? { stack: cap(stack, maxChars) } : {}),
    };
  }
  const description = describeThrown(thrown);
  return { name: 'NonErrorThrown', message: cap(`a non-Error was thrown: ${description}`, maxChars), thrown: cap(description, maxChars) };
}

function describeThrown(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'symbol') return value.toString();
  try {
    return JSON.stringify(value) ?? `a ${typeof value}`;
  } catch {
    // Circular or hostile (a throwing toJSON): fall back to its tag and keys.
    try {
      const keys = typeof value === 'object' && value !== null ? Object.keys(value).slice(0, 10).join(', ') : '';
      return `${Object.prototype.toString.call(value)} with keys [${keys}] (not serialisable)`;
    } catch {
      return 'an unserialisable value';
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

/** Caps the length, and replaces NUL, which PostgreSQL text and jsonb cannot hold. */
function cap(raw: string, max: number): string {
  const text = raw.includes('\u0000') ? raw.replace(/\u0000/g, '\uFFFD') : raw;
  return text.length <= max ? text : `${text.slice(0, max - 20)}... [${text.length - max + 20} more]`;
}
