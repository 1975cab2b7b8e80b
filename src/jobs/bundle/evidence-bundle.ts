/**
 * Evidence bundles: the record of a run, a pipeline or any export filter as one file that can be
 * handed over and checked later. A bundle is a gzip-compressed tar archive (any `tar xzf` opens it):
 *
 *   manifest.json    what was exported (filter, subject), when, by which jobledger version from
 *                    which schema, the counts, and each other part's size and SHA-256
 *   records.ndjson   every job with its attempts and events, one per line (as `export` writes them)
 *   run.json         the run and its figures (a run's bundle)
 *   pipeline.json    the pipeline with its stages and events (a pipeline's bundle)
 *
 * Parts are written to a scratch directory first (hashed as they are written, so memory stays
 * bounded), then archived to a temporary file beside the target and moved into place: a failed
 * bundle leaves nothing. `verifyEvidenceBundle` recomputes every part's SHA-256 and size, and the
 * counts of records.ndjson, against the manifest.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip, createGzip } from 'node:zlib';
import { BundleInvalidError, InvalidOptionError } from '../../errors.js';
import type { JobDetail } from '../../store/index.js';
import { endTar, readTar, TarFormatError, writeTarEntry } from './tar.js';

export const bundleFormat = 'jobledger-evidence-bundle';

export interface BundlePart {
  name: string;
  bytes: number;
  sha256: string;
}

export interface BundleManifest {
  format: typeof bundleFormat;
  version: 1;
  createdAt: string;
  jobledger: string;
  /** The last migration the ledger's database had applied. */
  schema: string;
  database: 'sqlite' | 'postgresql';
  /** What was exported: a run, a pipeline, or the filter alone. */
  subject: { type: 'run' | 'pipeline'; id: string } | null;
  filter: unknown;
  counts: { jobs: number; attempts: number; events: number };
  parts: BundlePart[];
}

export interface BundleInput {
  records: AsyncIterable<JobDetail>;
  /** Extra JSON parts (`run.json`, `pipeline.json`) and the subject they describe. */
  subject: { type: 'run' | 'pipeline'; id: string; part: string; value: unknown } | null;
  filter: unknown;
  jobledger: string;
  schema: string;
  database: 'sqlite' | 'postgresql';
}

/** Writes the bundle to `target` (moved into place once whole; an existing file only with `force`) and returns its manifest. */
export async function writeEvidenceBundle(target: string, input: BundleInput, options: { force?: boolean } = {}): Promise<BundleManifest> {
  if (!options.force && existsSync(target)) throw new InvalidOptionError('target', 'a file that does not exist yet (or force to replace it)', target);
  const scratch = await mkdtemp(join(dirname(target), `.${basename(target)}.parts-`));
  const partial = join(dirname(target), `.${basename(target)}.${process.pid}.partial`);
  try {
    const counts = { jobs: 0, attempts: 0, events: 0 };
    const records = await writeHashed(join(scratch, 'records.ndjson'), (async function* () {
      for await (const record of input.records) {
        counts.jobs += 1;
        counts.attempts += record.attempts.length;
        counts.events += record.events.length;
        yield `${JSON.stringify(record)}\n`;
      }
    })());
    const extra = input.subject ? Buffer.from(`${JSON.stringify(input.subject.value, null, 2)}\n`) : null;
    const parts: BundlePart[] = [{ name: 'records.ndjson', ...records }];
    if (input.subject && extra) parts.push({ name: input.subject.part, bytes: extra.length, sha256: sha256(extra) });
    const now = Date.now();
    const manifest: BundleManifest = {
      format: bundleFormat,
      version: 1,
      createdAt: new Date(now).toISOString(),
      jobledger: input.jobledger,
      schema: input.schema,
      database: input.database,
      subject: input.subject ? { type: input.subject.type, id: input.subject.id } : null,
      filter: input.filter,
      counts,
      parts,
    };

    const gzip = createGzip();
    const file = createWriteStream(partial, { flags: 'wx' });
    const done = once(file, 'finish');
    gzip.pipe(file);
    await writeTarEntry(gzip, 'manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), now);
    await writeTarEntry(gzip, 'records.ndjson', { path: join(scratch, 'records.ndjson'), size: records.bytes }, now);
    if (input.subject && extra) await writeTarEntry(gzip, input.subject.part, extra, now);
    await endTar(gzip);
    gzip.end();
    await done;
    await rename(partial, target);
    return manifest;
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Checks a bundle against its manifest; returns the manifest, or throws `BundleInvalidError` saying what differs. */
export async function verifyEvidenceBundle(path: string): Promise<BundleManifest> {
  const invalid = (reason: string) => new BundleInvalidError(path, reason);
  let manifest: BundleManifest | undefined;
  const seen = new Map<string, { bytes: number; sha256: string }>();
  let counted: { jobs: number; attempts: number; events: number } | undefined;
  try {
    const source = createReadStream(path);
    const input = createGunzip();
    // A file that cannot be read fails the reading, instead of leaving gunzip waiting for input.
    source.on('error', (error) => input.destroy(error));
    source.pipe(input);
    for await (const entry of readTar(input)) {
      if (!manifest) {
        if (entry.name !== 'manifest.json') throw invalid(`the first part is ${entry.name}, not manifest.json`);
        manifest = parseManifest(Buffer.concat(await collect(entry.content)), invalid);
        continue;
      }
      if (seen.has(entry.name)) throw invalid(`part ${entry.name} appears twice`);
      const hash = createHash('sha256');
      let bytes = 0;
      const lines = entry.name === 'records.ndjson' ? new RecordCounter() : undefined;
      for await (const chunk of entry.content) {
        hash.update(chunk);
        bytes += chunk.length;
        lines?.add(chunk);
      }
      seen.set(entry.name, { bytes, sha256: hash.digest('hex') });
      if (lines) counted = lines.end();
    }
  } catch (error) {
    if (error instanceof BundleInvalidError) throw error;
    if (error instanceof TarFormatError) throw invalid(`not a sound archive: ${error.message}`);
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT') throw invalid('no such file');
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw invalid('not a gzip-compressed bundle, or damaged');
    if (error instanceof SyntaxError) throw invalid(`records.ndjson holds a line that is not JSON`);
    throw error;
  }
  if (!manifest) throw invalid('the archive is empty');
  for (const part of manifest.parts) {
    const found = seen.get(part.name);
    if (!found) throw invalid(`part ${part.name} is missing`);
    if (found.bytes !== part.bytes) throw invalid(`part ${part.name} is ${found.bytes} bytes, the manifest says ${part.bytes}`);
    if (found.sha256 !== part.sha256) throw invalid(`part ${part.name} has SHA-256 ${found.sha256}, the manifest says ${part.sha256}`);
  }
  const unlisted = [...seen.keys()].filter((name) => !manifest.parts.some((p) => p.name === name));
  if (unlisted.length) throw invalid(`part ${unlisted[0]} is not in the manifest`);
  const { jobs, attempts, events } = manifest.counts;
  if (!counted || counted.jobs !== jobs || counted.attempts !== attempts || counted.events !== events) {
    throw invalid(`records.ndjson holds ${counted?.jobs ?? 0} jobs, ${counted?.attempts ?? 0} attempts, ${counted?.events ?? 0} events; the manifest says ${jobs}, ${attempts}, ${events}`);
  }
  return manifest;
}

function parseManifest(text: Buffer, invalid: (reason: string) => BundleInvalidError): BundleManifest {
  let value: unknown;
  try {
    value = JSON.parse(text.toString('utf8'));
  } catch {
    throw invalid('manifest.json is not JSON');
  }
  const m = value as Partial<BundleManifest> | null;
  if (!m || m.format !== bundleFormat || m.version !== 1) throw invalid(`manifest.json is not a ${bundleFormat} version 1`);
  if (!Array.isArray(m.parts) || !m.counts) throw invalid('manifest.json lists no parts or counts');
  return m as BundleManifest;
}

async function collect(content: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  for await (const chunk of content) chunks.push(chunk);
  return chunks;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Writes `text` to `path`, hashing it on the way; returns its size and SHA-256. */
async function writeHashed(path: string, text: AsyncIterable<string>): Promise<{ bytes: number; sha256: string }> {
  const out = createWriteStream(path, { flags: 'wx' });
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const piece of text) {
      const chunk = Buffer.from(piece);
      hash.update(chunk);
      bytes += chunk.length;
      if (!out.write(chunk)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  } catch (error) {
    out.destroy();
    throw error;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Counts the jobs, attempts and events of NDJSON job records as their bytes stream past. */
class RecordCounter {
  // A character's bytes may be split between two chunks.
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private readonly counts = { jobs: 0, attempts: 0, events: 0 };

  add(chunk: Buffer): void {
    const lines = (this.rest + this.decoder.write(chunk)).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  end(): { jobs: number; attempts: number; events: number } {
    this.rest += this.decoder.end();
    if (this.rest) this.line(this.rest);
    return this.counts;
  }

  private line(line: string): void {
    if (!line) return;
    const record = JSON.parse(line) as { attempts?: unknown[]; events?: unknown[] };
    this.counts.jobs += 1;
    this.counts.attempts += record.attempts?.length ?? 0;
    this.counts.events += record.events?.length ?? 0;
  }
}
