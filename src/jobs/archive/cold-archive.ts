/**
 * The cold archive tier (`jl.archive`): finished jobs moved out of the live tables into compressed,
 * checksummed segments (archive-run.ts), found again through the SQL index (`find`, `records`:
 * what `show` and `export` use), checked (`verify`) and brought back (`restore`).
 */
import type { Config } from '../../config.js';
import { ArchiveSegmentDamagedError, NotFoundError } from '../../errors.js';
import { packageVersion } from '../../package-version.js';
import {
  assertId,
  checkAuditContext,
  countSegmentJobs,
  findArchivedJobs,
  getSegment,
  listArchivedJobs,
  listSegments,
  restoreSegmentRows,
  type ArchiveSegmentRow,
  type AuditContext,
  type JobDetail,
  type JobFilter,
  type Ledger,
  type RestoredSegment,
} from '../../store/index.js';
import { configuredTarget, S3Target, targetAt, type ArchiveTarget } from './archive-targets.js';
import { removeSegmentFiles, runArchive, type ArchiveRunCounts, type ArchiveRunOptions } from './archive-run.js';
import { dataName, decodeSegment, manifestName, manifestProblem } from './segment-format.js';
import { matchesUnindexedFilter } from './record-filter.js';

export interface SegmentCheck {
  segmentId: string;
  status: ArchiveSegmentRow['status'];
  ok: boolean;
  /** What is wrong, when not ok. */
  problem: string | null;
}

export interface RestoreSegmentInput extends Partial<AuditContext> {
  segmentId: string;
  reason?: string | null;
}

export class ColdArchive {
  private readonly target: ArchiveTarget;
  /** The last segments read, decoded: an export reads a segment's jobs one after another. */
  private readonly cache = new Map<string, Map<string, JobDetail>>();

  constructor(
    private readonly ledger: Ledger,
    private readonly config: Pick<Config, 'coldArchive' | 'database'>,
    options: { target?: ArchiveTarget } = {},
  ) {
    this.target = options.target ?? configuredTarget(config.coldArchive);
  }

  /** Where new segments go: a directory's path or `s3://bucket/prefix`. */
  get location(): string {
    return this.target.location;
  }

  /** Moves finished jobs past the archive's days into segments (archive-run.ts). */
  run(options: ArchiveRunOptions = {}): Promise<ArchiveRunCounts> {
    const { afterDays, afterDaysByQueue } = this.config.coldArchive;
    return runArchive(
      { ledger: this.ledger, target: this.target, defaultPolicy: { defaultDays: afterDays, byQueue: afterDaysByQueue }, database: this.config.database.dialect, jobledger: packageVersion() },
      options,
    );
  }

  /** The segments, newest first. */
  list(filter: { status?: ArchiveSegmentRow['status']; limit?: number } = {}): Promise<ArchiveSegmentRow[]> {
    return listSegments(this.ledger, filter);
  }

  /**
   * Checks one segment, or every active one: its data hashes to the SHA-256 in its row, decodes to
   * the counts written, its manifest agrees, and (active) the index names as many jobs.
   */
  async verify(segmentId?: string): Promise<SegmentCheck[]> {
    const segments = segmentId === undefined ? await this.allSegments('active') : [await getSegment(this.ledger, assertId('seg', segmentId))];
    const checks: SegmentCheck[] = [];
    for (const segment of segments) {
      const check = (problem: string | null): SegmentCheck => ({ segmentId: segment.id, status: segment.status, ok: problem === null, problem });
      if (segment.status === 'restored') {
        checks.push(check(null));
        continue;
      }
      try {
        await this.readSegment(segment, { fresh: true });
        const manifest = await this.target.get(manifestName(segment.id)).then((b) => (b ? (JSON.parse(b.toString('utf8')) as unknown) : null), () => null);
        const indexed = await countSegmentJobs(this.ledger, segment.id);
        checks.push(
          check(
            manifestProblem(segment, manifest) ?? (indexed === segment.jobs ? null : `the index names ${indexed} of its jobs, it holds ${segment.jobs}`),
          ),
        );
      } catch (error) {
        if (!(error instanceof ArchiveSegmentDamagedError)) throw error;
        checks.push(check(error.message));
      }
    }
    return checks;
  }

  /**
   * Brings a segment's jobs back into the live tables (one transaction, with an audit row) and then
   * removes its files. A segment restored before is left as it is (`restored: false`).
   */
  async restore(input: RestoreSegmentInput): Promise<RestoredSegment & { segmentId: string }> {
    const segment = await getSegment(this.ledger, assertId('seg', input.segmentId));
    const audit = checkAuditContext({ actor: input.actor ?? 'library', source: input.source ?? 'library', ...(input.bulkId ? { bulkId: input.bulkId } : {}) });
    if (segment.status === 'restored') return { segmentId: segment.id, jobs: 0, attempts: 0, events: 0, restored: false };
    const records = [...(await this.readSegment(segment, { fresh: true })).values()];
    const restored = await restoreSegmentRows(this.ledger, { segment, records, audit, reason: input.reason ?? null, now: Date.now() });
    this.cache.delete(segment.id);
    // The jobs are live again: the files are no longer the truth for anything (a later run's orphan sweep removes them if this is cut short).
    await removeSegmentFiles(this.targetOf(segment), segment.id);
    return { segmentId: segment.id, ...restored };
  }

  /** Whether the index has a row for `jobId` (the job is archived), without reading its segment. */
  async holds(jobId: string): Promise<boolean> {
    return (await findArchivedJobs(this.ledger, [assertId('job', jobId)])).has(jobId);
  }

  /**
   * A job's record wherever it is, as `show`, the console's job page and `GET /api/jobs/:id` give
   * it: the live one, else the archived one with the segment holding it (`archivedIn`: read-only
   * there, restored by `restore`). The live tables are read again when the index has no row either,
   * for a job whose segment was restored between the two reads; a typed not-found error after that.
   */
  async liveOrArchived(jobId: string): Promise<{ record: JobDetail; archivedIn: string | null }> {
    const live = () => this.ledger.getJobDetail(jobId).then((record) => ({ record, archivedIn: null }));
    try {
      return await live();
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      const archived = await this.locate(jobId);
      return archived ? { record: archived.record, archivedIn: archived.segmentId } : live();
    }
  }

  /** An archived job's record, or null when the index has no row for it (it is live, or unknown). */
  async find(jobId: string): Promise<JobDetail | null> {
    return (await this.locate(jobId))?.record ?? null;
  }

  /** An archived job's record and the segment holding it, or null when the index has no row for it. */
  async locate(jobId: string): Promise<{ record: JobDetail; segmentId: string } | null> {
    const index = (await findArchivedJobs(this.ledger, [assertId('job', jobId)])).get(jobId);
    if (!index) return null;
    const segment = await getSegment(this.ledger, index.segmentId);
    const record = (await this.readSegment(segment)).get(jobId);
    if (!record) throw new ArchiveSegmentDamagedError(segment.id, `${segment.location}/${dataName(segment.id)}`, `the index names job ${jobId}, the segment does not hold it`);
    return { record, segmentId: segment.id };
  }

  /**
   * The archived jobs a listing filter matches, newest first: found through the index (status, job
   * type, queue, run, kind, time), then payload fields and error text checked on each record.
   */
  async *records(filter: Omit<JobFilter, 'limit' | 'offset' | 'before'> = {}, options: { pageSize?: number } = {}): AsyncGenerator<JobDetail> {
    const { where, errorContains, ...indexed } = filter;
    let before: { createdAt: number; jobId: string } | undefined;
    const limit = options.pageSize ?? 200;
    for (;;) {
      const page = await listArchivedJobs(this.ledger, indexed, { limit, ...(before ? { before } : {}) });
      for (const row of page) {
        const segment = await getSegment(this.ledger, row.segmentId);
        const record = (await this.readSegment(segment)).get(row.jobId);
        if (!record) throw new ArchiveSegmentDamagedError(segment.id, `${segment.location}/${dataName(segment.id)}`, `the index names job ${row.jobId}, the segment does not hold it`);
        if (matchesUnindexedFilter(record, { where, errorContains })) yield record;
      }
      const last = page.at(-1);
      if (!last || page.length < limit) return;
      before = { createdAt: last.createdAt, jobId: last.jobId };
    }
  }

  /** A segment's records by job id, checked against its row first; the last few are kept decoded. */
  private async readSegment(segment: ArchiveSegmentRow, options: { fresh?: boolean } = {}): Promise<Map<string, JobDetail>> {
    const cached = options.fresh ? undefined : this.cache.get(segment.id);
    if (cached) return cached;
    const data = await this.targetOf(segment).get(dataName(segment.id));
    if (data === null) throw new ArchiveSegmentDamagedError(segment.id, `${segment.location}/${dataName(segment.id)}`, 'the file is missing');
    const records = new Map((await decodeSegment(segment, data)).map((r) => [r.job.id, r]));
    this.cache.set(segment.id, records);
    if (this.cache.size > 2) this.cache.delete(this.cache.keys().next().value!);
    return records;
  }

  /** Closes the S3 client's connections, if one was opened. */
  async close(): Promise<void> {
    if (this.target instanceof S3Target) await this.target.close();
  }

  private targetOf(segment: ArchiveSegmentRow): ArchiveTarget {
    return segment.target === this.target.kind && segment.location === this.target.location ? this.target : targetAt(segment.target, segment.location, this.config.coldArchive);
  }

  private async allSegments(status: ArchiveSegmentRow['status']): Promise<ArchiveSegmentRow[]> {
    return this.list({ status, limit: 1_000_000 });
  }
}
