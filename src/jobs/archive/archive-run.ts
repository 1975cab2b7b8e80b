/**
 * One archive run: finished jobs past the archive's days move into segments, a segment at a time.
 * The order makes a kill at any point, even one the process cannot catch, leave every job in exactly one place:
 *   1. read the due jobs with their attempts and events (no transaction held);
 *   2. write the segment's data and manifest to the target, each whole or not at all;
 *   3. one transaction: the segment's row, an index row per job, the jobs' deletion; it rolls back
 *      if any job changed since step 1 (the segment is then removed and the jobs read again).
 * Killed before 3 commits, the jobs are live and the segment has no row: an orphan, removed by a
 * later run once it is older than the grace (so a run going on in another process keeps its own).
 * Killed after, the jobs are archived and their segment is whole.
 */
import { InvalidOptionError } from '../../errors.js';
import {
  ArchiveMoveConflict,
  archiveGroups,
  checkAuditContext,
  commitSegment,
  countDue,
  dueJobRecords,
  knownSegmentIds,
  newId,
  type ArchivePolicy,
  type ArchiveSegmentRow,
  type AuditContext,
  type JobDetail,
  type Ledger,
} from '../../store/index.js';
import type { ArchiveTarget } from './archive-targets.js';
import { dataName, encodeSegment, manifestName, segmentFormat, segmentIdOf, type SegmentManifest } from './segment-format.js';

export interface ArchiveRunOptions {
  /** Days after which finished jobs are archived. Default: the configuration's (`JOBLEDGER_ARCHIVE_AFTER_DAYS[_BY_QUEUE]`). */
  policy?: ArchivePolicy;
  /** The reference time (epoch ms). Default `Date.now()`. */
  now?: number;
  /** Jobs per segment. Default 1000. */
  segmentJobs?: number;
  /** At most this many jobs per run; the next run takes the rest. Default 100,000. */
  limit?: number;
  /** Count what would be archived, write nothing. Default false. */
  dryRun?: boolean;
  /** Checked between segments: an aborted signal ends the run early with what was done so far. */
  signal?: AbortSignal;
  /** Segment files without an active segment row and older than this are removed. Default one hour. */
  orphanGraceMs?: number;
  /** Who asked for the run (a manual run): recorded as an `archive.run` audit row before it starts. */
  audit?: AuditContext & { reason?: string | null };
  /** Told after each segment is on the target (`written`) and after its move committed (`committed`). */
  onStep?: (step: 'written' | 'committed', segmentId: string) => void | Promise<void>;
}

export interface ArchiveRunCounts {
  jobs: number;
  attempts: number;
  events: number;
  segments: number;
  /** Orphan segment files removed (moves that never committed, restored segments' files). */
  orphans: number;
  /** Segments dropped because their jobs changed while they were written (their jobs were read again). */
  conflicts: number;
  [count: string]: number;
}

export interface ArchiveRunDeps {
  ledger: Ledger;
  target: ArchiveTarget;
  defaultPolicy: ArchivePolicy;
  database: 'sqlite' | 'postgresql';
  jobledger: string;
}

/** Conflicts in a row after which a run gives up (another archiver is moving the same jobs). */
const maxConflicts = 20;

export async function runArchive(deps: ArchiveRunDeps, options: ArchiveRunOptions = {}): Promise<ArchiveRunCounts> {
  const now = options.now ?? Date.now();
  const segmentJobs = whole('segmentJobs', options.segmentJobs ?? 1000, 1, 10_000);
  const limit = whole('limit', options.limit ?? 100_000, 1);
  const policy = options.policy ?? deps.defaultPolicy;
  if (policy.defaultDays === null && Object.values(policy.byQueue ?? {}).every((days) => days === null)) {
    throw new InvalidOptionError('archive policy', 'days after which finished jobs are archived (JOBLEDGER_ARCHIVE_AFTER_DAYS, or --older-than-days)', 'off');
  }
  const counts: ArchiveRunCounts = { jobs: 0, attempts: 0, events: 0, segments: 0, orphans: 0, conflicts: 0 };
  const groups = archiveGroups(policy, now);
  if (options.dryRun) {
    for (const group of groups) {
      const due = await countDue(deps.ledger, group);
      counts.jobs += due.jobs;
      counts.attempts += due.attempts;
      counts.events += due.events;
    }
    return counts;
  }
  if (options.audit) {
    const { reason, ...context } = options.audit;
    await deps.ledger.recordAudit(checkAuditContext(context), {
      action: 'archive.run', subjectType: 'maintenance', subjectId: 'archive', reason: reason ?? null, changes: null, filter: policy, createdAt: now,
    });
  }
  counts.orphans = await removeOrphans(deps, options.orphanGraceMs ?? 3_600_000, now);
  for (const group of groups) {
    let conflictsInRow = 0;
    while (counts.jobs < limit && !options.signal?.aborted) {
      const size = Math.min(segmentJobs, limit - counts.jobs);
      const records = await dueJobRecords(deps.ledger, group, size);
      if (records.length === 0) break;
      const moved = await moveSegment(deps, records, options.onStep);
      if (!moved) {
        counts.conflicts += 1;
        if (++conflictsInRow >= maxConflicts) break;
        continue;
      }
      conflictsInRow = 0;
      counts.segments += 1;
      counts.jobs += moved.jobs;
      counts.attempts += moved.attempts;
      counts.events += moved.events;
      if (records.length < size) break;
    }
  }
  return counts;
}

/** Writes one segment and moves its jobs; null when they changed meanwhile (nothing moved, the segment removed). */
async function moveSegment(deps: ArchiveRunDeps, records: JobDetail[], onStep: ArchiveRunOptions['onStep']): Promise<ArchiveSegmentRow | null> {
  const id = newId('seg');
  const encoded = await encodeSegment(records);
  const created = records.map((r) => r.job.createdAt);
  const segment: ArchiveSegmentRow = {
    id, createdAt: Date.now(), target: deps.target.kind, location: deps.target.location, sha256: encoded.sha256, bytes: encoded.data.length,
    ...encoded.counts, firstCreatedAt: Math.min(...created), lastCreatedAt: Math.max(...created), status: 'active', restoredAt: null,
  };
  const manifest: SegmentManifest = {
    format: segmentFormat, version: 1, segmentId: id, createdAt: new Date(segment.createdAt).toISOString(), jobledger: deps.jobledger,
    database: deps.database, data: { name: dataName(id), bytes: segment.bytes, sha256: segment.sha256, encoding: 'ndjson', compression: 'gzip' },
    counts: encoded.counts, firstCreatedAt: segment.firstCreatedAt, lastCreatedAt: segment.lastCreatedAt,
    jobIds: { first: records[0]!.job.id, last: records.at(-1)!.job.id },
  };
  await deps.target.put(dataName(id), encoded.data);
  await deps.target.put(manifestName(id), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  await onStep?.('written', id);
  try {
    await commitSegment(deps.ledger, segment, records);
  } catch (error) {
    // Rolled back: nothing points at the segment. (Any other failure may have committed, e.g. a
    // COMMIT cut off with its connection: the files stay, and a later run removes them if no row came.)
    if (!(error instanceof ArchiveMoveConflict)) throw error;
    await removeSegmentFiles(deps.target, id);
    return null;
  }
  await onStep?.('committed', id);
  return segment;
}

export async function removeSegmentFiles(target: ArchiveTarget, segmentId: string): Promise<void> {
  await target.remove(dataName(segmentId));
  await target.remove(manifestName(segmentId));
}

/**
 * Removes the target's files that no active segment owns (and partial writes), once older than
 * `graceMs`: moves that never committed, and restored segments' files whose removal was cut short.
 */
async function removeOrphans(deps: ArchiveRunDeps, graceMs: number, now: number): Promise<number> {
  const objects = (await deps.target.list()).filter((o) => segmentIdOf(o.name) !== null && o.modifiedMs <= now - graceMs);
  if (objects.length === 0) return 0;
  const status = await knownSegmentIds(deps.ledger, [...new Set(objects.map((o) => segmentIdOf(o.name)!))]);
  let removed = 0;
  for (const object of objects) {
    const partial = object.name.endsWith('.partial');
    if (!partial && status.get(segmentIdOf(object.name)!) === 'active') continue;
    await deps.target.remove(object.name);
    removed += 1;
  }
  return removed;
}

function whole(option: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new InvalidOptionError(option, `a whole number from ${min} to ${max}`, value);
  return value;
}
