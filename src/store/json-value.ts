/**
 * What may be stored as JSON in the ledger: a value that survives the round trip unchanged on both
 * dialects. One set of rules for payloads, results, progress and state data:
 *
 * - plain data only: null, booleans, finite numbers, strings, arrays, and objects whose prototype
 *   is `Object.prototype` or null. No BigInt, function, symbol, `undefined` in an array, cycle,
 *   class instance (a `Date` included: JSON.stringify would turn it into a string that reads back
 *   as a string, so it is refused with a hint instead), and no `toJSON` (it is a function).
 * - no NUL (`\u0000`) and no lone UTF-16 surrogate in any string or key: PostgreSQL's jsonb refuses
 *   both, while SQLite stores them; refusing them everywhere keeps the dialects in step.
 * - at most `maxDepth` levels of nested arrays and objects (SQLite's JSON functions stop at 1000,
 *   and a document deeper than that breaks every `--where` query over its table), and at most
 *   `maxBytes` of UTF-8 JSON.
 *
 * The check reads every property exactly once and builds a plain copy from what it read, so a
 * getter, a proxy or a later mutation by the caller cannot make the stored value differ from the
 * checked one; anything that throws while being read is refused, never propagated.
 */

export interface JsonLimits {
  /** Deepest nesting of arrays and objects (`{}` is 1 level). */
  maxDepth: number;
  /** Largest UTF-8 JSON text. */
  maxBytes: number;
}

/** Default `JOBLEDGER_MAX_JSON_DEPTH`. */
export const defaultMaxJsonDepth = 64;
/**
 * Highest accepted `JOBLEDGER_MAX_JSON_DEPTH`. Stored documents wrap values a few levels deeper
 * than given (an event's payload, a pipeline's feedback), and SQLite's JSON limit is 1000.
 */
export const maxJsonDepthCeiling = 500;
/** Default size caps of payloads, results and progress: 1 MiB. */
export const defaultMaxJsonBytes = 1024 * 1024;

export const defaultJsonLimits: JsonLimits = Object.freeze({ maxDepth: defaultMaxJsonDepth, maxBytes: defaultMaxJsonBytes });

export interface JsonProblem {
  /** Where in the value, e.g. `customer.tags[2]`. */
  path: string;
  expected: string;
  got: string;
}

export type StorableJson =
  | { ok: true; /** A plain copy of the value. */ value: unknown; /** Its JSON text. */ text: string; bytes: number }
  | { ok: false; problem: JsonProblem };

/** Thrown inside the walk to stop at the first problem. */
class Refusal extends Error {
  constructor(readonly problem: JsonProblem) {
    super(`${problem.path}: expected ${problem.expected}, got ${problem.got}`);
  }
}

/** Paths in messages are capped: a hostile value may nest long keys deep. */
const maxPathChars = 200;
const plainKey = /^[A-Za-z_$][\w$]*$/;

/**
 * Checks `value` against the rules above and returns a plain copy with its JSON text, or the first
 * problem found. `root.path` prefixes every path (e.g. `result`), `root.name` names the value itself.
 * Never throws.
 */
export function toStorableJson(value: unknown, root: { path: string; name: string }, limits: JsonLimits): StorableJson {
  const seen = new Set<object>();
  // A lower bound of the UTF-8 size seen so far, to stop early on a value far over the cap (the
  // exact size is measured on the copy's JSON at the end, and reported when the walk finishes).
  let atLeastBytes = 0;
  const giveUpAtBytes = 2 * limits.maxBytes;
  const refuse = (path: string, expected: string, got: string): never => {
    const where = path || root.name;
    throw new Refusal({ path: where.length > maxPathChars ? `${where.slice(0, maxPathChars - 3)}...` : where, expected, got });
  };
  const count = (bytes: number): void => {
    atLeastBytes += bytes;
    if (atLeastBytes > giveUpAtBytes) refuse(root.path, `at most ${limits.maxBytes} bytes of JSON`, `more than ${giveUpAtBytes} bytes`);
  };
  const read = <T>(path: string, what: string, reader: () => T): T => {
    try {
      return reader();
    } catch (error) {
      return refuse(path, 'plain data that can be read without error', `${what} threw ${errorName(error)}`);
    }
  };
  const child = (path: string, key: string): string => {
    const segment = plainKey.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
    return path ? `${path}${segment}` : segment.startsWith('.') ? key : segment;
  };

  const visit = (v: unknown, path: string, depth: number): unknown => {
    switch (typeof v) {
      case 'string':
        count(v.length + 2);
        checkText(v, 'a string', path, refuse);
        return v;
      case 'number':
        if (!Number.isFinite(v)) refuse(path, 'a finite number', String(v));
        count(1);
        return v;
      case 'boolean':
        count(4);
        return v;
      case 'bigint':
        return refuse(path, 'a JSON value (send a BigInt as a string)', `${v}n (a BigInt)`);
      case 'undefined':
        return refuse(path, 'a JSON value (JSON would drop undefined)', 'undefined');
      case 'function':
      case 'symbol':
        return refuse(path, 'a JSON value', `a ${typeof v}`);
      case 'object': {
        if (v === null) {
          count(4);
          return null;
        }
        if (depth >= limits.maxDepth) {
          refuse(path, `at most ${limits.maxDepth} levels of nested arrays and objects (JOBLEDGER_MAX_JSON_DEPTH)`, 'deeper nesting');
        }
        const isArray = read(path, 'inspecting it', () => Array.isArray(v));
        const proto = read(path, 'inspecting it', () => Object.getPrototypeOf(v) as unknown);
        if (isArray ? proto !== Array.prototype : proto !== Object.prototype && proto !== null) {
          refuse(path, isArray ? 'a plain array' : 'a plain object (convert it to JSON first)', describeInstance(v, proto));
        }
        if (seen.has(v)) refuse(path, 'a JSON value without circular references', 'a circular reference');
        seen.add(v);
        count(2);
        const copy = isArray ? visitArray(v as readonly unknown[], path, depth) : visitObject(v, path, depth);
        seen.delete(v);
        return copy;
      }
    }
  };
  const visitArray = (items: readonly unknown[], path: string, depth: number): unknown[] => {
    const length = read(path, 'reading its length', () => items.length);
    const copy = new Array<unknown>(length);
    for (let i = 0; i < length; i++) {
      const at = `${path}[${i}]`;
      copy[i] = visit(read(at, 'reading it', () => items[i]), at, depth + 1);
      count(1);
    }
    return copy;
  };
  const visitObject = (v: object, path: string, depth: number): Record<string, unknown> => {
    const keys = read(path, 'listing its keys', () => Object.keys(v));
    const copy: Record<string, unknown> = {};
    for (const key of keys) {
      checkText(key, 'keys', path, refuse);
      const at = child(path, key);
      const item = read(at, 'reading it', () => (v as Record<string, unknown>)[key]);
      if (item === undefined) continue; // an absent optional field: JSON drops it, nothing is lost
      count(key.length + 4);
      const copied = visit(item, at, depth + 1);
      // Plain assignment of "__proto__" would set the copy's prototype instead of a property.
      if (key === '__proto__') Object.defineProperty(copy, key, { value: copied, enumerable: true, writable: true, configurable: true });
      else copy[key] = copied;
    }
    return copy;
  };

  try {
    const copy = visit(value, root.path, 0);
    const text = JSON.stringify(copy);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limits.maxBytes) refuse(root.path, `at most ${limits.maxBytes} bytes of JSON`, `${bytes} bytes`);
    return { ok: true, value: copy, text, bytes };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, problem: error.problem };
    // Not expected (the copy is plain data); still never a throw out of a check.
    return { ok: false, problem: { path: root.path || root.name, expected: 'a JSON value', got: `a value JSON could not encode (${errorName(error)})` } };
  }
}

/** Why `text` cannot be stored as text or inside JSON (NUL, a lone surrogate), or null. */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'NUL (\\u0000)';
  if (!isWellFormed(text)) return 'a lone UTF-16 surrogate';
  return null;
}

/** `what`: "a string" or "keys"; refuses NUL and lone surrogates, which PostgreSQL cannot store. */
function checkText(text: string, what: string, path: string, refuse: (path: string, expected: string, got: string) => never): void {
  const problem = textProblem(text);
  if (problem === null) return;
  const singular = what === 'keys' ? 'a key' : 'a string';
  refuse(path, `${what} without NUL (\\u0000) or lone UTF-16 surrogates (PostgreSQL cannot store them)`, `${singular} with ${problem}`);
}

const loneSurrogate = /[\uD800-\uDFFF]/u;

function isWellFormed(text: string): boolean {
  const native = (text as { isWellFormed?: () => boolean }).isWellFormed;
  return native ? native.call(text) : !loneSurrogate.test(text);
}

/** A safe name for a thrown value: its `name` if readable, else its type. */
function errorName(error: unknown): string {
  try {
    if (error instanceof Error && typeof error.name === 'string') return `a ${error.name.slice(0, 60)}`;
  } catch {
    // a hostile error; fall through
  }
  return error === null ? 'null' : `a ${typeof error}`;
}

function describeInstance(v: object, proto: unknown): string {
  try {
    if (v instanceof Date) return 'a Date (store date.toISOString() or date.getTime() instead)';
    const name = (proto as { constructor?: { name?: unknown } } | null)?.constructor?.name;
    return typeof name === 'string' && name ? `a ${name.slice(0, 60)}` : 'an object with a custom prototype';
  } catch {
    return 'an object with a custom prototype';
  }
}

/**
 * `text` made storable anywhere: NUL and lone surrogates replaced by U+FFFD. For text jobledger
 * writes itself (error messages, reasons), which must never be what makes a write fail.
 */
export function storableText(text: string): string {
  const withoutNul = text.includes('\u0000') ? text.replace(/\u0000/g, '\uFFFD') : text;
  if (isWellFormed(withoutNul)) return withoutNul;
  const native = (withoutNul as { toWellFormed?: () => string }).toWellFormed;
  return native ? native.call(withoutNul) : withoutNul.replace(/[\uD800-\uDFFF]/gu, '\uFFFD');
}

/** `text` cut to at most `max` characters (a surrogate pair cut in half is not left behind), storable. */
export function clipText(text: string, max: number, marker = '...'): string {
  if (text.length <= max) return storableText(text);
  return storableText(`${text.slice(0, max - marker.length)}${marker}`);
}
