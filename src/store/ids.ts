/**
 * Ids are a kind prefix and a ULID: sortable by creation time, unique across hosts without
 * coordination, and accepted by BullMQ as job ids (it rejects ids that are all digits or hold ":").
 */
import { monotonicFactory } from 'ulid';
import { InvalidIdError } from '../errors.js';

/**
 * ulid's default random source makes one crypto call per character, which cost 4–6% of a busy
 * worker's CPU in the benchmark's profile; this one draws the same cryptographic bytes 4 KiB at a
 * time. Each character needs 5 bits; a byte / 256 gives 8.
 */
const randomBytes = new Uint8Array(4096);
let randomOffset = randomBytes.length;
function bufferedRandom(): number {
  if (randomOffset >= randomBytes.length) {
    crypto.getRandomValues(randomBytes);
    randomOffset = 0;
  }
  return randomBytes[randomOffset++]! / 256;
}

const nextUlid = monotonicFactory(bufferedRandom);

/** job, attempt, event, run, pipeline, state transition, snapshot, maintenance run. */
export type IdKind = 'job' | 'att' | 'evt' | 'run' | 'pip' | 'stt' | 'snp' | 'mnt';

export function newId(kind: IdKind): string {
  return `${kind}_${nextUlid()}`;
}

const idPattern = /^(job|att|evt|run|pip|stt|snp|mnt)_[0-9A-HJKMNP-TV-Z]{26}$/;

export function isId(kind: IdKind, value: unknown): value is string {
  return typeof value === 'string' && idPattern.test(value) && value.startsWith(`${kind}_`);
}

/** Throws a typed error unless `value` is an id of the given kind. */
export function assertId(kind: IdKind, value: unknown): string {
  if (!isId(kind, value)) throw new InvalidIdError(kind, value);
  return value;
}
