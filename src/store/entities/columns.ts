/**
 * Column helpers shared by the entity schemas. Timestamps are epoch milliseconds in BIGINT columns
 * on both dialects: one representation for SQLite and PostgreSQL, cheap to compare and to backdate
 * in tests, and free of time-zone conversions in the driver.
 */
import { BigIntType, JsonType } from '@mikro-orm/core';

export const epochMs = { type: new BigIntType('number') } as const;
export const optionalEpochMs = { type: new BigIntType('number'), nullable: true } as const;
export const json = { type: JsonType } as const;
export const optionalJson = { type: JsonType, nullable: true } as const;
