/**
 * A value copied into a BullMQ job for Bull Board to show (the opt-in mirror,
 * `JOBLEDGER_BULL_BOARD_MIRROR`): the value itself, or, when its JSON is larger than the cap, a
 * placeholder naming its size. The ledger keeps the whole value either way.
 */
export function mirroredValue(value: unknown, maxBytes: number): unknown {
  const json = JSON.stringify(value);
  const bytes = json === undefined ? 0 : Buffer.byteLength(json);
  if (bytes <= maxBytes) return value;
  return { mirrored: false, bytes, maxBytes, note: 'larger than JOBLEDGER_BULL_BOARD_MIRROR_MAX_BYTES; the ledger has it' };
}

/** The key of the payload in a mirrored job's data, beside jobledger's own fields. */
export const mirroredPayloadKey = 'payload';
