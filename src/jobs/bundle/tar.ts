/**
 * A minimal POSIX ustar archive: regular files only, written from streams and read back as entries.
 * Evidence bundles are tar files (gzip-compressed) so that any `tar` can open one; this module is the
 * little of the format they need, without a dependency.
 */
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { once } from 'node:events';

const block = 512;

/** The 512-byte header of a regular file of `size` bytes. */
export function tarHeader(name: string, size: number, mtimeMs: number): Buffer {
  if (Buffer.byteLength(name) > 100) throw new RangeError(`tar entry name longer than 100 bytes: ${name}`);
  const header = Buffer.alloc(block);
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0') + '\0';
  header.write(name, 0, 100, 'utf8');
  header.write(octal(0o644, 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(Math.floor(mtimeMs / 1000), 12), 136, 'ascii');
  header.write('        ', 148, 'ascii'); // the checksum counts its own field as spaces
  header.write('0', 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return header;
}

/** Zeros that round `size` bytes up to a whole block. */
function padding(size: number): Buffer {
  return Buffer.alloc((block - (size % block)) % block);
}

async function write(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

/** Appends one file to the archive being written to `out`: from a buffer, or from a file on disk of known size. */
export async function writeTarEntry(out: Writable, name: string, content: Buffer | { path: string; size: number }, mtimeMs: number): Promise<void> {
  const size = Buffer.isBuffer(content) ? content.length : content.size;
  await write(out, tarHeader(name, size, mtimeMs));
  if (Buffer.isBuffer(content)) await write(out, content);
  else for await (const chunk of createReadStream(content.path)) await write(out, chunk as Buffer);
  await write(out, padding(size));
}

/** The end of an archive: two zero blocks. */
export async function endTar(out: Writable): Promise<void> {
  await write(out, Buffer.alloc(2 * block));
}

export interface TarEntry {
  name: string;
  size: number;
  /** The entry's bytes, streamed; read it to the end before asking for the next entry. */
  content: AsyncIterable<Buffer>;
}

/** A damaged or unsupported archive. */
export class TarFormatError extends Error {}

/**
 * The regular-file entries of a ustar archive read from `input`, in order. Each header's checksum is
 * checked; anything but a regular file is refused.
 */
export async function* readTar(input: Readable): AsyncGenerator<TarEntry> {
  const reader = new ChunkReader(input);
  for (;;) {
    const header = await reader.read(block);
    if (header.length < block) throw new TarFormatError('the archive ends inside a header');
    if (header.every((byte) => byte === 0)) return;
    const stored = parseInt(header.toString('ascii', 148, 156).replace(/\0.*$/s, '').trim(), 8);
    const copy = Buffer.from(header);
    copy.write('        ', 148, 'ascii');
    let sum = 0;
    for (const byte of copy) sum += byte;
    if (stored !== sum) throw new TarFormatError('a header checksum does not match');
    const type = header.toString('ascii', 156, 157);
    if (type !== '0' && type !== '\0') throw new TarFormatError(`an entry of type ${JSON.stringify(type)}; only regular files are expected`);
    const name = header.toString('utf8', 0, 100).replace(/\0.*$/s, '');
    const size = parseInt(header.toString('ascii', 124, 136).replace(/\0.*$/s, '').trim(), 8);
    if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`entry ${name}: an unreadable size`);
    let left = size;
    let consumed = false;
    const content = (async function* () {
      while (left > 0) {
        const chunk = await reader.read(Math.min(left, 64 * 1024));
        if (chunk.length === 0) throw new TarFormatError(`entry ${name}: the archive ends inside it`);
        left -= chunk.length;
        yield chunk;
      }
      consumed = true;
    })();
    yield { name, size, content };
    if (!consumed) for await (const _ of content) void _;
    await reader.read(padding(size).length);
  }
}

/** Reads exact byte counts from a stream (fewer only at its end). */
class ChunkReader {
  private readonly chunks: AsyncIterator<Buffer>;
  private pending: Buffer = Buffer.alloc(0);

  constructor(input: Readable) {
    this.chunks = (input as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  }

  async read(bytes: number): Promise<Buffer> {
    while (this.pending.length < bytes) {
      const next = await this.chunks.next();
      if (next.done) break;
      this.pending = this.pending.length ? Buffer.concat([this.pending, next.value]) : next.value;
    }
    const out = this.pending.subarray(0, bytes);
    this.pending = this.pending.subarray(out.length);
    return out;
  }
}
