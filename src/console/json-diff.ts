/**
 * What changed between two JSON values, as the State page shows a transition: one line per changed
 * leaf (a value that differs, a key or element added or removed), with its path. Objects are compared
 * key by key (in sorted order) and arrays element by element; anything else as a whole. At most `max` lines, then
 * `truncated`.
 */
export interface JsonChange {
  /** `$` for the whole value; `$.customer.plan`, `$.items[2]`, `$["odd key"]` below it. */
  path: string;
  change: 'added' | 'removed' | 'changed';
  before?: unknown;
  after?: unknown;
}

export interface JsonDiff {
  changes: JsonChange[];
  truncated: boolean;
}

export function jsonDiff(before: unknown, after: unknown, max = 200): JsonDiff {
  const changes: JsonChange[] = [];
  let truncated = false;
  const add = (change: JsonChange): void => {
    if (changes.length < max) changes.push(change);
    else truncated = true;
  };
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (truncated) return;
    if (isObject(a) && isObject(b)) {
      // Keys in sorted order: PostgreSQL's jsonb does not keep the order they were written in.
      for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
        if (!Object.hasOwn(b, key)) add({ path: childPath(path, key), change: 'removed', before: a[key] });
        else if (!Object.hasOwn(a, key)) add({ path: childPath(path, key), change: 'added', after: b[key] });
        else walk(a[key], b[key], childPath(path, key));
      }
      return;
    }
    if (Array.isArray(a) && Array.isArray(b)) {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        const at = `${path}[${i}]`;
        if (i >= b.length) add({ path: at, change: 'removed', before: a[i] });
        else if (i >= a.length) add({ path: at, change: 'added', after: b[i] });
        else walk(a[i], b[i], at);
      }
      return;
    }
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      if (a === undefined) add({ path, change: 'added', after: b });
      else if (b === undefined) add({ path, change: 'removed', before: a });
      else add({ path, change: 'changed', before: a, after: b });
    }
  };
  walk(before, after, '$');
  return { changes, truncated };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
