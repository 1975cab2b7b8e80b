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
import { defaultMaxJsonDepth } from '../config.js';

export interface JsonLimits {
  /** Deepest nesting of arrays and objects (`{}` is 1 level). */
  maxDepth: number;
  /** Largest UTF-8 JSON text. */
  maxBytes: number;
}

/** Default size caps of payloads, results and progress: 1 MiB. */
export const defaultMaxJsonBytes = 1024 * 1024;

export { defaultMaxJsonDepth, maxJsonDepthCeiling } from '../config.js';

export const defaultJsonLimits: JsonLimits = Object.freeze({ maxDepth: defaultMaxJsonDepth, maxBytes: defaultMaxJsonBytes });

export interface JsonProblem {
  /** Where in the value, e.g. `customer.tags[2]`. */
  path: string;
  expected: string;
  got: string;
}

export type StorableJson =
  | { ok: true; /** A plain copy of the value. */ value: unknown; /** Its JSON text. */ text: string }
  | { ok: false; problem: JsonProblem };

/** Paths in messages are capped: a hostile value may nest long keys deep. */
const maxPathChars = 200;
const plainKey = /^[A-Za-z_$][\w$]*$/;

/**
 * Checks `value` against the rules above and returns a plain copy with its JSON text, or the first
 * problem found. `root.path` prefixes every path (e.g. `result`), `root.name` names the value itself.
 * Never throws.
 */
export function toStorableJson(value: unknown, root: { path: string; name: string }, limits: JsonLimits): StorableJson {
  const walker = new Walker(limits);
  try {
    const copy = walker.visit(value, 0);
    const text = JSON.stringify(copy);
    // A UTF-16 unit is at most 3 UTF-8 bytes: most values need no exact count.
    if (text.length * 3 > limits.maxBytes) {
      const bytes = Buffer.byteLength(text, 'utf8');
      if (bytes > limits.maxBytes) return refused(root, [], `at most ${limits.maxBytes} bytes of JSON`, `${bytes} bytes`);
    }
    return { ok: true, value: copy, text };
  } catch (error) {
    if (error instanceof Refusal) return refused(root, error.atRoot ? [] : walker.path, error.expected, error.got);
    // A getter, a proxy trap or an inspection threw: refused where the walk stood.
    return refused(root, walker.path, 'plain data that can be read without error', `${walker.doing} threw ${errorName(error)}`);
  }
}

/**
 * The walk itself, as a class rather than closures: it runs for every payload, result and progress,
 * and one object per call (its position kept as a stack of segments, the path text built only for a
 * refusal) costs little more than the JSON.stringify it ends with.
 */
class Walker {
  /** Where the walk stands: keys and indexes from the root. */
  readonly path: (string | number)[] = [];
  /** What the walk was doing, for a getter or trap that throws. */
  doing = 'reading it';
  private readonly ancestors: object[] = [];
  /** A lower bound of the UTF-8 size seen so far, to stop early on a value far over the cap. */
  private atLeastBytes = 0;
  private readonly giveUpAtBytes: number;

  constructor(private readonly limits: JsonLimits) {
    this.giveUpAtBytes = 2 * limits.maxBytes;
  }

  visit(v: unknown, depth: number): unknown {
    switch (typeof v) {
      case 'string':
        this.count(v.length + 2);
        checkText(v, 'a string');
        return v;
      case 'number':
        if (!Number.isFinite(v)) throw new Refusal('a finite number', String(v));
        this.count(1);
        return v;
      case 'boolean':
        this.count(4);
        return v;
      case 'bigint':
        throw new Refusal('a JSON value (send a BigInt as a string)', `${v}n (a BigInt)`);
      case 'undefined':
        throw new Refusal('a JSON value (JSON would drop undefined)', 'undefined');
      case 'function':
      case 'symbol':
        throw new Refusal('a JSON value', `a ${typeof v}`);
      case 'object': {
        if (v === null) {
          this.count(4);
          return null;
        }
        if (depth >= this.limits.maxDepth) {
          throw new Refusal(`at most ${this.limits.maxDepth} levels of nested arrays and objects (JOBLEDGER_MAX_JSON_DEPTH)`, 'deeper nesting');
        }
        this.doing = 'inspecting it';
        const isArray = Array.isArray(v);
        const proto = Object.getPrototypeOf(v) as unknown;
        if (isArray ? proto !== Array.prototype : proto !== Object.prototype && proto !== null) {
          throw new Refusal(isArray ? 'a plain array' : 'a plain object (convert it to JSON first)', describeInstance(v, proto));
        }
        if (this.ancestors.includes(v)) throw new Refusal('a JSON value without circular references', 'a circular reference');
        this.ancestors.push(v);
        this.count(2);
        const copy = isArray ? this.array(v as readonly unknown[], depth) : this.object(v, depth);
        this.ancestors.pop();
        return copy;
      }
    }
  }

  private array(items: readonly unknown[], depth: number): unknown[] {
    this.doing = 'reading its length';
    const length = items.length;
    const copy = new Array<unknown>(length);
    const at = this.path.push(0) - 1;
    for (let i = 0; i < length; i++) {
      this.path[at] = i;
      this.doing = 'reading it';
      copy[i] = this.visit(items[i], depth + 1);
      this.count(1);
    }
    this.path.pop();
    return copy;
  }

  private object(v: object, depth: number): Record<string, unknown> {
    this.doing = 'listing its keys';
    const keys = Object.keys(v);
    const copy: Record<string, unknown> = {};
    for (const key of keys) checkText(key, 'keys'); // refused at the object's own path
    const at = this.path.push('') - 1;
    for (const key of keys) {
      this.path[at] = key;
      this.doing = 'reading it';
      const item = (v as Record<string, unknown>)[key];
      if (item === undefined) continue; // an absent optional field: JSON drops it, nothing is lost
      this.count(key.length + 4);
      const copied = this.visit(item, depth + 1);
      // Plain assignment of "__proto__" would set the copy's prototype instead of a property.
      if (key === '__proto__') Object.defineProperty(copy, key, { value: copied, enumerable: true, writable: true, configurable: true });
      else copy[key] = copied;
    }
    this.path.pop();
    return copy;
  }

  private count(bytes: number): void {
    this.atLeastBytes += bytes;
    if (this.atLeastBytes > this.giveUpAtBytes) {
      throw new Refusal(`at most ${this.limits.maxBytes} bytes of JSON`, `more than ${this.giveUpAtBytes} bytes`, true);
    }
  }
}

/** Thrown inside the walk to stop at the first problem; the walk's position says where. */
class Refusal extends Error {
  constructor(
    readonly expected: string,
    readonly got: string,
    /** About the value as a whole (its size), not the place the walk stood. */
    readonly atRoot = false,
  ) {
    super(`expected ${expected}, got ${got}`);
  }
}

function refused(root: { path: string; name: string }, segments: readonly (string | number)[], expected: string, got: string): StorableJson {
  let path = root.path;
  for (const segment of segments) {
    if (path.length > maxPathChars) break;
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (plainKey.test(segment)) path += path ? `.${segment}` : segment;
    else path += `[${JSON.stringify(segment.length > 60 ? `${segment.slice(0, 57)}...` : segment)}]`;
  }
  path ||= root.name;
  return { ok: false, problem: { path: path.length > maxPathChars ? `${path.slice(0, maxPathChars - 3)}...` : path, expected, got } };
}

/** Why `text` cannot be stored as text or inside JSON (NUL, a lone surrogate), or null. */
export function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'NUL (\\u0000)';
  if (!isWellFormed(text)) return 'a lone UTF-16 surrogate';
  return null;
}

/** `what`: "a string" or "keys"; refuses NUL and lone surrogates, which PostgreSQL cannot store. */
function checkText(text: string, what: string): void {
  const problem = textProblem(text);
  if (problem === null) return;
  const singular = what === 'keys' ? 'a key' : 'a string';
  throw new Refusal(`${what} without NUL (\\u0000) or lone UTF-16 surrogates (PostgreSQL cannot store them)`, `${singular} with ${problem}`);
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

/**
 * Whether two JSON values are the same document: objects compared by their keys, whatever their
 * order (PostgreSQL's jsonb keeps its own), and a key whose value is undefined counted as absent
 * (JSON drops it). For values `findJsonProblem` accepts.
 */
export function sameJsonValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => sameJsonValue(item, b[i]));
  }
  const left = Object.entries(a).filter(([, v]) => v !== undefined);
  const right = b as Record<string, unknown>;
  const rightCount = Object.values(right).filter((v) => v !== undefined).length;
  return left.length === rightCount && left.every(([key, v]) => Object.hasOwn(right, key) && sameJsonValue(v, right[key]));
}
