/**
 * Ids are a kind prefix and a ULID: sortable by creation time, unique across hosts without
 * coordination, and accepted by BullMQ as job ids (it rejects ids that are all digits or hold ":").
 */
import { InvalidIdError } from '../errors.js';

/** Crockford's base32, the ULID alphabet, as character codes. */
const alphabet = Uint8Array.from('0123456789ABCDEFGHJKMNPQRSTVWXYZ', (c) => c.charCodeAt(0));

/**
 * Random bytes drawn 4 KiB at a time: one crypto call per character (the `ulid` package's default
 * source) cost 4–6% of a busy worker's CPU in the benchmark's profile. Each character takes the low
 * 5 bits of a byte, uniform because 256 is a multiple of 32.
 */
const randomBytes = new Uint8Array(4096);
let randomOffset = randomBytes.length;
function randomDigit(): number {
  if (randomOffset >= randomBytes.length) {
    crypto.getRandomValues(randomBytes);
    randomOffset = 0;
  }
  return randomBytes[randomOffset++]! & 31;
}

/**
 * A monotonic ULID generator writing into one buffer: the time part is encoded once per
 * millisecond, and an id in the same millisecond (or after the clock stepped back) is the previous
 * one's random part plus one, so ids from one process sort in the order they were made, as with
 * `ulid`'s `monotonicFactory`. The package built each id a character at a time, about 350 ns and
 * 400 bytes of garbage per id; a job's start and outcome make three ids (the attempt, two events).
 * This takes about 150 ns and one string.
 */
const idBytes = Buffer.alloc(4 + 26);
const randomDigits = new Uint8Array(16);
let lastTime = -1;

function writeUlid(): void {
  const now = Date.now();
  if (now > lastTime) {
    lastTime = now;
    let time = now;
    for (let i = 9; i >= 0; i--) {
      idBytes[4 + i] = alphabet[time % 32]!;
      time = Math.floor(time / 32);
    }
    for (let i = 0; i < 16; i++) randomDigits[i] = randomDigit();
  } else {
    let i = 15;
    while (i >= 0 && randomDigits[i] === 31) randomDigits[i--] = 0;
    // 2^80 ids in one millisecond: as `ulid` does, refuse rather than repeat one.
    if (i < 0) throw new Error('ULID random part overflowed within one millisecond');
    randomDigits[i]!++;
  }
  for (let i = 0; i < 16; i++) idBytes[14 + i] = alphabet[randomDigits[i]!]!;
}

/** job, attempt, event, run, pipeline, state transition, snapshot, maintenance run, ledger (its identity), replay, audit row, archive segment. */
export type IdKind = 'job' | 'att' | 'evt' | 'run' | 'pip' | 'stt' | 'snp' | 'mnt' | 'ldg' | 'rpl' | 'aud' | 'seg';

export function newId(kind: IdKind): string {
  writeUlid();
  idBytes.write(kind, 0, 'latin1');
  idBytes[3] = 0x5f; // _
  return idBytes.toString('latin1', 0, 30);
}

const idPattern = /^(job|att|evt|run|pip|stt|snp|mnt|ldg|aud|seg)_[0-9A-HJKMNP-TV-Z]{26}$/;

export function isId(kind: IdKind, value: unknown): value is string {
  return typeof value === 'string' && idPattern.test(value) && value.startsWith(`${kind}_`);
}

/** Throws a typed error unless `value` is an id of the given kind. */
export function assertId(kind: IdKind, value: unknown): string {
  if (!isId(kind, value)) throw new InvalidIdError(kind, value);
  return value;
}
