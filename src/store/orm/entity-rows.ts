/**
 * Rows as the entity schemas define them, for the two ways the store meets a row: an entity the ORM
 * loaded (handed out as a plain object, so callers hold data and not an entity of a closed fork),
 * and a raw row a statement below the ORM returned (the attempt outcome's pipeline step, which runs
 * on the hot path's executor). Both follow the schema: its property order, its column names (the
 * naming strategy MikroORM itself uses) and its types; there is no mapper written per table.
 */
import type { EntitySchema } from '@mikro-orm/core';
import { BigIntType, JsonType, UnderscoreNamingStrategy } from './mikro-orm.js';
import type { DatabaseDialect } from '../../config.js';
import { decodeJson, toNullableNumber, type Row } from '../engine/sql.js';

const naming = new UnderscoreNamingStrategy();

/** A loaded entity as a plain object with the schema's properties, in schema order. */
export function plainRow<T extends object>(schema: EntitySchema<T>, entity: T): T {
  const out: Record<string, unknown> = {};
  for (const property of Object.keys(schema.meta.properties)) out[property] = (entity as Record<string, unknown>)[property] ?? null;
  return out as T;
}

/** Plain objects of loaded entities. */
export function plainRows<T extends object>(schema: EntitySchema<T>, entities: readonly T[]): T[] {
  return entities.map((e) => plainRow(schema, e));
}

/** A raw `SELECT *` / `RETURNING *` row of the schema's table, decoded by the schema's column types. */
export function rowFromColumns<T extends object>(schema: EntitySchema<T>, dialect: DatabaseDialect, raw: Row): T {
  const out: Record<string, unknown> = {};
  for (const [property, definition] of Object.entries(schema.meta.properties as Record<string, { type?: unknown }>)) {
    const value = raw[naming.propertyToColumnName(property)];
    const type = definition.type;
    if (type === JsonType || type instanceof JsonType) out[property] = decodeJson(dialect, value);
    else if (type === BigIntType || type instanceof BigIntType || type === 'integer') out[property] = toNullableNumber(value);
    else out[property] = value ?? null;
  }
  return out as T;
}
