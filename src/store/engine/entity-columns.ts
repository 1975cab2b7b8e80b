/**
 * Column names and types of an entity's properties, for the statements the hot path writes below
 * the ORM (sql.ts casts PostgreSQL arrays by type). Derived from the entity schema, with the
 * naming strategy MikroORM itself uses, so a column list cannot drift from the table it writes.
 */
import type { EntitySchema } from '@mikro-orm/core';
import { BigIntType, JsonType, UnderscoreNamingStrategy } from '../orm/mikro-orm.js';
import type { Column, ColumnType } from './sql.js';

const naming = new UnderscoreNamingStrategy();

/** The columns of `properties`, in that order. */
export function entityColumns<T>(entity: EntitySchema<T>, properties: readonly (keyof T & string)[]): Column[] {
  const defined = entity.meta.properties as Record<string, { type?: unknown } | undefined>;
  return properties.map((property) => {
    const type = defined[property]?.type;
    if (type === undefined) throw new Error(`${entity.meta.className} has no property ${property}`);
    return { name: naming.propertyToColumnName(property), type: columnType(type, `${entity.meta.className}.${property}`) };
  });
}

/** Every property of `entity`, in schema order. */
export function allPropertiesOf<T>(entity: EntitySchema<T>): (keyof T & string)[] {
  return Object.keys(entity.meta.properties) as (keyof T & string)[];
}

function columnType(type: unknown, where: string): ColumnType {
  if (type === JsonType || type instanceof JsonType || type === 'json') return 'json';
  if (type === BigIntType || type instanceof BigIntType || type === 'bigint') return 'bigint';
  if (type === 'integer' || type === 'int') return 'int';
  if (type === 'string' || type === 'text') return 'text';
  throw new Error(`${where}: no hot-path column type for ${String(type)}`);
}
