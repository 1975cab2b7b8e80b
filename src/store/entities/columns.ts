/**
 * Column helpers shared by the entity schemas. Timestamps are epoch milliseconds in BIGINT columns
 * on both dialects: one representation for SQLite and PostgreSQL, cheap to compare and to backdate
 * in tests, and free of time-zone conversions in the driver.
 */
import type { EntityProperty, Platform } from '@mikro-orm/core';
import { BaseSqlitePlatform, BigIntType, JsonType } from '../orm/mikro-orm.js';

export const epochMs = { type: new BigIntType('number') } as const;
export const optionalEpochMs = { type: new BigIntType('number'), nullable: true } as const;
export const json = { type: JsonType } as const;
export const optionalJson = { type: JsonType, nullable: true } as const;

/**
 * A duration in milliseconds, which may pass 2^31 (about 24.9 days): BIGINT on PostgreSQL, where
 * `int` is 32-bit. SQLite's INTEGER is 64-bit already, and its tables keep the declared type they
 * were created with (changing it means rebuilding the table), so there it stays `integer`.
 */
class DurationMsType extends BigIntType<'number'> {
  constructor() {
    super('number');
  }

  override getColumnType(prop: EntityProperty, platform: Platform): string {
    return platform instanceof BaseSqlitePlatform ? platform.getIntegerTypeDeclarationSQL(prop) : super.getColumnType(prop, platform);
  }
}

export const optionalDurationMs = { type: new DurationMsType(), nullable: true } as const;
