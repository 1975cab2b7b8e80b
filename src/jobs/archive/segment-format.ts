/**
 * A cold archive segment: the records of its jobs (each job with its attempts and events, the
 * line `jobledger export --format ndjson` writes for it), one per line, gzip-compressed, in a file
 * named after the segment; beside it a JSON manifest naming what it holds, its size and SHA-256.
 * The SHA-256 that counts is the one in the segment's SQL row, written when the segment was: a
 * segment is read only after its bytes hash to it (`decodeSegment`).
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { ArchiveSegmentDamagedError } from '../../errors.js';
import type { ArchiveSegmentRow, JobDetail } from '../../store/index.js';

export const segmentFormat = 'jobledger-archive-segment';

export interface SegmentManifest {
  format: typeof segmentFormat;
  version: 1;
  segmentId: string;
  createdAt: string;
  jobledger: string;
  database: 'sqlite' | 'postgresql';
  /** The data file: its name, size, SHA-256 (hex), and how it is encoded. */
  data: { name: string; bytes: number; sha256: string; encoding: 'ndjson'; compression: 'gzip' };
  counts: { jobs: number; attempts: number; events: number };
  /** Creation times (epoch ms) of its oldest and newest job. */
  firstCreatedAt: number;
  lastCreatedAt: number;
  jobIds: { first: string; last: string };
}

export const dataName = (segmentId: string): string => `${segmentId}.ndjson.gz`;
export const manifestName = (segmentId: string): string => `${segmentId}.manifest.json`;

/** The segment id a target's object name belongs to (data, manifest or a partial write of either), or null. */
export function segmentIdOf(name: string): string | null {
  const match = /^\.?(seg_[0-9A-HJKMNP-TV-Z]{26})\.(ndjson\.gz|manifest\.json)(\..*)?$/.exec(name);
  return match ? match[1]! : null;
}

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface EncodedSegment {
  data: Buffer;
  sha256: string;
  counts: { jobs: number; attempts: number; events: number };
}

/** The compressed data of `records` (compressed off the event loop's thread, by zlib's pool). */
export async function encodeSegment(records: readonly JobDetail[]): Promise<EncodedSegment> {
  const lines = records.map((r) => `${JSON.stringify({ job: r.job, attempts: r.attempts, events: r.events.map(withoutCommitOrder) })}\n`);
  const data = await gzipAsync(Buffer.from(lines.join('')), { level: 6 });
  return {
    data,
    sha256: sha256(data),
    counts: { jobs: records.length, attempts: records.reduce((n, r) => n + r.attempts.length, 0), events: records.reduce((n, r) => n + r.events.length, 0) },
  };
}

/** An event's PostgreSQL commit order is the live table's business: a restore gets a new one. */
function withoutCommitOrder(event: JobDetail['events'][number]): JobDetail['events'][number] {
  const { txId: _txId, ...rest } = event;
  return rest;
}

/**
 * The records of a segment's data, after checking its size and SHA-256 against the segment's row,
 * and its counts once decoded. Anything off is an `ArchiveSegmentDamagedError` naming the segment.
 */
export async function decodeSegment(segment: ArchiveSegmentRow, data: Buffer): Promise<JobDetail[]> {
  const damaged = (reason: string) => new ArchiveSegmentDamagedError(segment.id, `${segment.location}/${dataName(segment.id)}`, reason);
  if (data.length !== segment.bytes) throw damaged(`${data.length} bytes, ${segment.bytes} when it was written`);
  const actual = sha256(data);
  if (actual !== segment.sha256) throw damaged(`SHA-256 ${actual}, ${segment.sha256} when it was written`);
  let text: string;
  try {
    text = (await gunzipAsync(data)).toString('utf8');
  } catch (error) {
    throw damaged(`not gzip data (${error instanceof Error ? error.message : String(error)})`);
  }
  const records = text.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as JobDetail);
  const attempts = records.reduce((n, r) => n + r.attempts.length, 0);
  const events = records.reduce((n, r) => n + r.events.length, 0);
  if (records.length !== segment.jobs || attempts !== segment.attempts || events !== segment.events) {
    throw damaged(`holds ${records.length} jobs, ${attempts} attempts, ${events} events; ${segment.jobs}, ${segment.attempts}, ${segment.events} were written`);
  }
  return records;
}

/** Whether a manifest agrees with the segment's row (size, SHA-256, counts). Null when it does, else what differs. */
export function manifestProblem(segment: ArchiveSegmentRow, manifest: unknown): string | null {
  const m = manifest as Partial<SegmentManifest> | null;
  if (!m || m.format !== segmentFormat || m.segmentId !== segment.id) return 'the manifest does not describe this segment';
  if (m.data?.sha256 !== segment.sha256 || m.data?.bytes !== segment.bytes) return `the manifest names SHA-256 ${String(m.data?.sha256)}, the index ${segment.sha256}`;
  if (m.counts?.jobs !== segment.jobs || m.counts?.attempts !== segment.attempts || m.counts?.events !== segment.events) return 'the manifest counts differ from the index';
  return null;
}
