/**
 * How a state entry is held in the hot tiers: its JSON text with its key, its version, when it was
 * taken from SQL (or committed), and a SHA-256 checksum over the four (node:crypto, base64url). In
 * Redis the value is one string, `<version>|<storedAt>|<checksum>|<json>`: version and time lead so
 * that the tier's Lua scripts can compare them without parsing JSON. A value that does not decode,
 * whose checksum does not match, or whose JSON names another key or version is corrupt: the reader
 * counts it and goes to SQL.
 *
 * A key SQL has no row for is held too, as version 0 with empty JSON ("missing at version 0"):
 * older than any version the key can have, so any write's version replaces it, a writer's fence
 * removes it, and a process that has seen a version of the key never serves it (its floor is above).
 */
import { hash } from 'node:crypto';
import type { StateEntryRow } from '../store/index.js';

/** A held entry: what both tiers keep for one key. */
export interface HotValue {
  /** `namespace/key`. */
  id: string;
  /** The entry's version; 0: SQL has no entry of that key. */
  version: number;
  /** When it was read from SQL or committed (ms since the epoch): past the tiers' maximum age, SQL is read again. */
  storedAt: number;
  checksum: string;
  /** The whole StateEntryRow as JSON; '' for a missing key. */
  json: string;
}

/** What a verified value holds: the row, or null for a key SQL has no entry of. */
export interface HeldRow {
  row: StateEntryRow | null;
}

const missingRow: HeldRow = Object.freeze({ row: null });

export function hotId(namespace: string, key: string): string {
  return `${namespace}/${key}`;
}

export function checksumOf(id: string, version: number, storedAt: number, json: string): string {
  return hash('sha256', `${id}\n${version}\n${storedAt}\n${json}`, 'base64url');
}

export function toHotValue(row: StateEntryRow, storedAt: number): HotValue {
  const id = hotId(row.namespace, row.key);
  const json = JSON.stringify(row);
  return { id, version: row.version, storedAt, checksum: checksumOf(id, row.version, storedAt, json), json };
}

/** The marker of a key SQL had no entry of at `storedAt`. */
export function missingHotValue(id: string, storedAt: number): HotValue {
  return { id, version: 0, storedAt, checksum: checksumOf(id, 0, storedAt, ''), json: '' };
}

/** The Redis form of a held entry. */
export function encodeHotValue(value: HotValue): string {
  return `${value.version}|${value.storedAt}|${value.checksum}|${value.json}`;
}

/** The held entry in a Redis string, or null if the string is not one for `id` (corrupt). Not yet verified. */
export function decodeHotValue(id: string, raw: string): HotValue | null {
  const first = raw.indexOf('|');
  const second = first < 0 ? -1 : raw.indexOf('|', first + 1);
  const third = second < 0 ? -1 : raw.indexOf('|', second + 1);
  if (first <= 0 || third < 0) return null;
  const version = Number(raw.slice(0, first));
  const storedAt = Number(raw.slice(first + 1, second));
  if (!Number.isSafeInteger(version) || version < 0 || !Number.isSafeInteger(storedAt) || storedAt < 0) return null;
  return { id, version, storedAt, checksum: raw.slice(second + 1, third), json: raw.slice(third + 1) };
}

/**
 * What a value holds if its checksum matches and its JSON names the same key and version (a value
 * copied under another key keeps a matching checksum only if it was forged); null if corrupt.
 */
export function heldRow(value: HotValue): HeldRow | null {
  if (checksumOf(value.id, value.version, value.storedAt, value.json) !== value.checksum) return null;
  if (value.version === 0) return value.json === '' ? missingRow : null;
  let row: StateEntryRow;
  try {
    row = JSON.parse(value.json) as StateEntryRow;
  } catch {
    return null;
  }
  if (typeof row !== 'object' || row === null || hotId(row.namespace, row.key) !== value.id || row.version !== value.version) return null;
  return { row };
}

/** Whether `value` should replace `held`: a newer version, or the same version taken from SQL later. */
export function supersedes(value: HotValue, held: HotValue): boolean {
  return value.version > held.version || (value.version === held.version && value.storedAt > held.storedAt);
}

/** Approximate bytes a value holds in memory (UTF-16 text plus the object's overhead). */
export function hotValueBytes(value: HotValue): number {
  return 2 * (value.json.length + value.checksum.length + value.id.length) + 72;
}
