/**
 * The coded error catalogue. Every error jobledger raises on purpose is a `JobLedgerError` with a
 * stable `code`; its message says what was expected, what came, and (where useful) what to do.
 * Unknown throws from below (drivers, Redis) are wrapped with the original kept as `cause`.
 *
 * The classes live by subject beside this file; everything imports them from here.
 */
export * from './errors-base.js';
export * from './errors-input.js';
export * from './errors-database.js';
export * from './errors-redis.js';
export * from './errors-record.js';
