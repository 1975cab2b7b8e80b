/**
 * How a state entry is held in the hot tiers: its JSON text with its key, its version and a
 * SHA-256 checksum over the three (node:crypto, base64url). In Redis the value is one string,
 * `<version>|<checksum>|<json>`: the version leads so that the tier's Lua scripts can compare
 * versions without parsing JSON. A value that does not decode, whose checksum does not match, or
 * whose JSON names another key or version is corrupt: the reader counts it and goes to SQL.
 */
import { hash } from 'node:crypto';
import type { StateEntryRow } from '../store/index.js';

/** A held entry: what both tiers keep for one key. */
export interface HotValue {
  /** `namespace/key`. */
  id: string;
  version: number;
  checksum: string;
  /** The whole StateEntryRow as JSON. */
  json: string;
}

export function hotId(namespace: string, key: string): string {
  return `${namespace}/${key}`;
}

export function checksumOf(id: string, version: number, json: string): string {
  return hash('sha256', `${id}\n${version}\n${json}`, 'base64url');
}

export function toHotValue(row: StateEntryRow): HotValue {
  const id = hotId(row.namespace, row.key);
  const json = JSON.stringify(row);
  return { id, version: row.version, checksum: checksumOf(id, row.version, json), json };
}

/** The Redis form of a held entry. */
export function encodeHotValue(value: HotValue): string {
  return `${value.version}|${value.checksum}|${value.json}`;
}

/** The held entry in a Redis string, or null if the string is not one for `id` (corrupt). */
export function decodeHotValue(id: string, raw: string): HotValue | null {
  const first = raw.indexOf('|');
  const second = first < 0 ? -1 : raw.indexOf('|', first + 1);
  if (first <= 0 || second < 0) return null;
  const version = Number(raw.slice(0, first));
  if (!Number.isSafeInteger(version) || version < 1) return null;
  const value = { id, version, checksum: raw.slice(first + 1, second), json: raw.slice(second + 1) };
  return verifyHotValue(value) ? value : null;
}

/** True when the checksum matches the key, version and JSON held. */
export function verifyHotValue(value: HotValue): boolean {
  return checksumOf(value.id, value.version, value.json) === value.checksum;
}

/**
 * The row a verified value holds, or null when its JSON does not name the same key and version
 * (a value copied under another key keeps a matching checksum only if it was forged).
 */
export function rowOf(value: HotValue): StateEntryRow | null {
  let row: StateEntryRow;
  try {
    row = JSON.parse(value.json) as StateEntryRow;
  } catch {
    return null;
  }
  if (typeof row !== 'object' || row === null || hotId(row.namespace, row.key) !== value.id || row.version !== value.version) return null;
  return row;
}

/** Approximate bytes a value holds in memory (UTF-16 text plus the object's overhead). */
export function hotValueBytes(value: HotValue): number {
  return 2 * (value.json.length + value.checksum.length + value.id.length) + 64;
}
