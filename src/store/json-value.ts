/**
 * What may be stored as JSON in the ledger: a value that survives the round trip unchanged on both
 * dialects. JSON.stringify silently drops functions and undefined, turns class instances into
 * whatever their toJSON says, and throws on BigInt and cycles; PostgreSQL's jsonb refuses NUL.
 */

export interface JsonProblem {
  /** Where in the value, e.g. `customer.tags[2]`. */
  path: string;
  expected: string;
  got: string;
}

/** The first reason `value` cannot be stored as JSON, or null. `root` names the value itself. */
export function findJsonProblem(value: unknown, root: { path: string; name: string }): JsonProblem | null {
  const seen = new Set<object>();
  const at = (path: string): string => path || root.name;
  const child = (path: string, key: string): string => (path ? `${path}.${key}` : key);
  const visit = (v: unknown, path: string): JsonProblem | null => {
    switch (typeof v) {
      case 'bigint':
        return { path: at(path), expected: 'a JSON value (send a BigInt as a string)', got: `${v}n (a BigInt)` };
      case 'function':
      case 'symbol':
        return { path: at(path), expected: 'a JSON value', got: `a ${typeof v}` };
      case 'undefined':
        return { path: at(path), expected: 'a JSON value (JSON would drop undefined)', got: 'undefined' };
      case 'number':
        return Number.isFinite(v) ? null : { path: at(path), expected: 'a finite number', got: String(v) };
      case 'string':
        return v.includes('\u0000') ? { path: at(path), expected: nulFree('a string'), got: 'a string with NUL' } : null;
      case 'object': {
        if (v === null) return null;
        if (seen.has(v)) return { path: at(path), expected: 'a JSON value without circular references', got: 'a circular reference' };
        seen.add(v);
        const problem = Array.isArray(v) ? visitArray(v, path) : visitObject(v, path);
        seen.delete(v);
        return problem;
      }
      default:
        return null;
    }
  };
  const visitArray = (items: readonly unknown[], path: string): JsonProblem | null => {
    for (const [i, item] of items.entries()) {
      const problem = visit(item, `${path}[${i}]`);
      if (problem) return problem;
    }
    return null;
  };
  const visitObject = (v: object, path: string): JsonProblem | null => {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      const kind = (v as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      return { path: at(path), expected: 'a plain object (convert it to JSON first)', got: `a ${kind}` };
    }
    for (const [key, item] of Object.entries(v)) {
      if (item === undefined) continue; // an absent optional field: JSON drops it, nothing is lost
      if (key.includes('\u0000')) return { path: at(path), expected: nulFree('keys'), got: 'a key with NUL' };
      const problem = visit(item, child(path, key));
      if (problem) return problem;
    }
    return null;
  };
  return visit(value, root.path);
}

function nulFree(what: string): string {
  return `${what} without NUL (\\u0000) characters (PostgreSQL cannot store them)`;
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
