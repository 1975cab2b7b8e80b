/**
 * A request body's JSON types checked against its route schema before Fastify's Ajv sees it.
 * Fastify's default Ajv coerces types (`{ "reason": 5 }` becomes `"5"`, a lone id becomes a list
 * of one, `"3"` an integer), and a host server may configure it either way; an operator action
 * must not run on a value the client did not mean, so a body field of the wrong JSON type is
 * refused by name, whatever the host's settings. Ranges, patterns and lengths stay Ajv's.
 */
import { InvalidOptionError } from '../errors.js';

export interface BodySchemaNode {
  type?: string;
  anyOf?: readonly BodySchemaNode[];
  properties?: Readonly<Record<string, BodySchemaNode>>;
  items?: BodySchemaNode;
  description?: string;
}

/** Throws `InvalidOptionError` naming the first field of `value` whose JSON type `schema` does not allow. */
export function checkBodyTypes(schema: BodySchemaNode, value: unknown, path = 'body'): void {
  const mismatch = firstMismatch(schema, value, path);
  if (mismatch) throw new InvalidOptionError(mismatch.path, mismatch.expected, mismatch.value);
}

interface Mismatch {
  path: string;
  expected: string;
  value: unknown;
}

function firstMismatch(schema: BodySchemaNode, value: unknown, path: string): Mismatch | undefined {
  const expected = schema.description ?? schema.type ?? 'a valid value';
  if (schema.anyOf) {
    return schema.anyOf.some((branch) => firstMismatch(branch, value, path) === undefined) ? undefined : { path, expected, value };
  }
  if (schema.type !== undefined && !hasJsonType(value, schema.type)) return { path, expected, value };
  if (Array.isArray(value) && schema.items) {
    for (const [index, item] of value.entries()) {
      const inner = firstMismatch(schema.items, item, `${path}[${index}]`);
      if (inner) return inner;
    }
  }
  if (isPlainObject(value) && schema.properties) {
    for (const [key, property] of Object.entries(schema.properties)) {
      if (!Object.hasOwn(value, key) || value[key] === undefined) continue;
      const inner = firstMismatch(property, value[key], path === 'body' ? key : `${path}.${key}`);
      if (inner) return inner;
    }
  }
  return undefined;
}

function hasJsonType(value: unknown, type: string): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'array':
      return Array.isArray(value);
    case 'object':
      return isPlainObject(value);
    case 'null':
      return value === null;
    default:
      return true;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
