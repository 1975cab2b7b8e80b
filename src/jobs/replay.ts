/**
 * Replays: new jobs made from the payloads of the jobs a filter matches, under a named replay record
 * (who, why, the filter, how far it got). A replay never touches its originals: each new job is
 * linked to its original (`job_replays`), and its `job.enqueued` event carries the replay's actor.
 *
 * The originals are read newest first, a batch at a time, below a bound fixed at the start, so the
 * replay's own new jobs (newer than the bound) are never read back as originals. Each batch is one
 * transaction on the ledger: its jobs, their links and the replay's counts commit together, and its
 * jobs reach Redis after the commit (Producer.transaction). Each new job carries the idempotency key
 * `replay:<replay id>:<original id>`, so no original is replayed twice by one replay. Cancelling
 * (`cancel`, from any process) stops it before its next batch; the batches before stand.
 *
 * Pipeline stages are not replayed here: a stage job belongs to its pipeline's flow.
 */
import { InvalidOptionError, NothingMatchedError, ReplayFailedError } from '../errors.js';
import { assertId, checkAuditSource, newId, ReplayStoppedError, type AuditSource, type JobLineage, type JobRow, type Ledger, type ReplayRow, type ReplayStatus, type ReplayStore } from '../store/index.js';
import type { ExportFilter } from './job-export.js';
import { defaultActor } from './operator.js';
import type { Producer } from './producer.js';
import type { EnqueueRequest } from './validate-enqueue.js';

export interface ReplayRequest {
  /** A name to find the replay by (`jobledger replays`). */
  name: string;
  /** Why, recorded with the replay. Required. */
  reason: string;
  /** Who; default the OS user. Recorded with the replay and in each new job's `job.enqueued` event. */
  actor?: string;
  /** Where it came from, for its audit row: `cli`, `api` or `library` (the default). */
  source?: AuditSource;
  /** Which originals: one job (`jobId`), or the listing filters. Pipeline stages are refused. */
  filter: ExportFilter;
  /** At most this many new jobs. Default: every match. */
  limit?: number;
  /** Count the matches and return a sample; write nothing. */
  dryRun?: boolean;
  /** Originals per transaction. Default 200. */
  batchSize?: number;
  /** After each committed batch; the next batch waits for a promise it returns. */
  onProgress?: (progress: { replayId: string; matched: number; created: number }) => void | Promise<void>;
}

export type ReplayResult =
  /** What a replay would do: how many jobs it would make, and the first few originals. */
  | { dryRun: true; matched: number; sample: JobRow[] }
  /** The replay as it ended: `completed`, or `cancelled` while it ran. */
  | { dryRun: false; replay: ReplayRow };

const sampleSize = 5;

export class Replays {
  constructor(
    private readonly deps: { ledger: Ledger; store: ReplayStore; producer: Producer },
  ) {}

  async run(request: ReplayRequest): Promise<ReplayResult> {
    const { name, reason, actor, filter, limit, batchSize } = checkRequest(request);
    const bound = { createdAt: Date.now(), id: newId('job') };
    const originals = this.originals(filter, bound, limit, batchSize);
    if (request.dryRun) return { dryRun: true, ...(await this.preview(filter, bound, limit)) };

    const first = await originals.next();
    if (first.done) throw new NothingMatchedError('replay', filter);
    const replay = await this.deps.store.start({ name, reason, actor, source: checkAuditSource(request.source ?? 'library'), filter: { ...filter, before: bound }, jobLimit: limit ?? null });
    let matched = 0;
    let created = 0;
    try {
      for (let next: IteratorResult<JobRow[], void> = first; !next.done; next = await originals.next()) {
        const batch = next.value;
        const requests = batch.map((job) => replayRequest(job, replay.id, actor));
        // Run again as a whole after a lost lock race: the totals are counted from what committed.
        const linked = await this.deps.producer.transaction(this.deps.ledger.entityManager(), async (tx) => {
          const enqueued = await tx.enqueueBulk(requests);
          const links = enqueued.flatMap((job, i) => (job.created ? [{ jobId: job.id, replayOf: batch[i]!.id, replayId: replay.id }] : []));
          await this.deps.store.recordBatch(tx.em, { replayId: replay.id, links, matched: matched + batch.length, created: created + links.length });
          return links.length;
        });
        matched += batch.length;
        created += linked;
        await request.onProgress?.({ replayId: replay.id, matched, created });
      }
    } catch (error) {
      if (error instanceof ReplayStoppedError) return { dryRun: false, replay: await this.deps.store.get(replay.id) };
      const message = error instanceof Error ? error.message : String(error);
      await this.deps.store.finish({ replayId: replay.id, status: 'failed', reason: message.slice(0, 2000), actor }).catch(() => undefined);
      throw new ReplayFailedError(replay.id, created, error);
    }
    try {
      return { dryRun: false, replay: await this.deps.store.finish({ replayId: replay.id, status: 'completed', reason: null, actor }) };
    } catch (error) {
      // Cancelled after its last batch committed: it stands as cancelled.
      if (error instanceof Error && 'code' in error && error.code === 'JOBLEDGER_ILLEGAL_TRANSITION') return { dryRun: false, replay: await this.deps.store.get(replay.id) };
      throw error;
    }
  }

  /** Stops a running replay before its next batch; what it made so far stands. */
  cancel(input: { replayId: string; reason: string; actor?: string; source?: AuditSource }): Promise<ReplayRow> {
    if (typeof input.reason !== 'string' || input.reason.trim() === '') throw new InvalidOptionError('reason', 'why the replay is cancelled (required)', input.reason);
    return this.deps.store.finish({ replayId: input.replayId, status: 'cancelled', reason: input.reason.trim(), actor: input.actor ?? defaultActor(), source: checkAuditSource(input.source ?? 'library') });
  }

  get(replayId: string): Promise<ReplayRow> {
    return this.deps.store.get(replayId);
  }

  list(options: { limit?: number; status?: ReplayStatus } = {}): Promise<ReplayRow[]> {
    return this.deps.store.list(options);
  }

  /** The job's original, if a replay made it, and the jobs replays made from it. */
  lineage(jobId: string): Promise<JobLineage> {
    return this.deps.store.lineage(jobId);
  }

  private async preview(filter: ExportFilter, bound: { createdAt: number; id: string }, limit: number | undefined): Promise<{ matched: number; sample: JobRow[] }> {
    const first = await this.originals(filter, bound, Math.min(limit ?? sampleSize, sampleSize), sampleSize).next();
    const sample: JobRow[] = first.done ? [] : first.value;
    if (sample.length === 0) throw new NothingMatchedError('replay', filter);
    if (filter.jobId !== undefined) return { matched: 1, sample };
    const { jobId: _none, ...listing } = filter;
    // The bound as a count can take it: created before the start (the same millisecond counted).
    const counts = await this.deps.ledger.countJobsByStatus({ ...listing, kind: 'job', until: Math.min(listing.until ?? Infinity, bound.createdAt + 1) });
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
    return { matched: limit === undefined ? total : Math.min(total, limit), sample };
  }

  /** The originals, newest first, a batch at a time, below `bound`, at most `limit`. */
  private async *originals(filter: ExportFilter, bound: { createdAt: number; id: string }, limit: number | undefined, batchSize: number): AsyncGenerator<JobRow[], void> {
    if (filter.jobId !== undefined) {
      const job = await this.deps.ledger.getJob(assertId('job', filter.jobId));
      if (job.pipelineId !== null) throw stageRefused(job.id);
      yield [job];
      return;
    }
    const { jobId: _none, ...listing } = filter;
    let before = bound;
    let left = limit ?? Infinity;
    while (left > 0) {
      const jobs = await this.deps.ledger.listJobs({ ...listing, kind: 'job', limit: Math.min(batchSize, left), before });
      if (jobs.length === 0) return;
      left -= jobs.length;
      yield jobs;
      const last = jobs.at(-1)!;
      before = { createdAt: last.createdAt, id: last.id };
    }
  }
}

function replayRequest(job: JobRow, replayId: string, actor: string): EnqueueRequest {
  return {
    name: job.name,
    payload: job.payload,
    options: {
      idempotencyKey: `replay:${replayId}:${job.id}`,
      priority: job.priority,
      maxAttempts: job.maxAttempts,
      ...(job.backoff ? { backoff: job.backoff as NonNullable<EnqueueRequest['options']>['backoff'] } : {}),
      timeoutMs: job.timeoutMs,
      actor,
    },
  };
}

function stageRefused(jobId: string): InvalidOptionError {
  return new InvalidOptionError('job', 'a job that is not a pipeline stage (a stage is re-run by retrying its pipeline)', jobId);
}

function checkRequest(request: ReplayRequest): { name: string; reason: string; actor: string; filter: ExportFilter; limit: number | undefined; batchSize: number } {
  if (typeof request !== 'object' || request === null) throw new InvalidOptionError('replay', 'an object with name, reason and filter', request);
  const text = (option: string, value: unknown, max: number): string => {
    if (typeof value !== 'string' || value.trim() === '' || value.length > max) throw new InvalidOptionError(option, `a non-empty string of at most ${max} characters`, value);
    return value.trim();
  };
  const name = text('name', request.name, 200);
  const reason = text('reason', request.reason, 2000);
  const actor = text('actor', request.actor ?? defaultActor(), 200);
  const filter = request.filter;
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw new InvalidOptionError('filter', 'an object: { jobId } or listing filters', filter);
  if (filter.kind === 'stage') throw new InvalidOptionError('filter.kind', 'job (pipeline stages are re-run by retrying their pipeline)', filter.kind);
  const whole = (option: string, value: unknown, max: number): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > max) throw new InvalidOptionError(option, `a whole number from 1 to ${max}`, value);
    return value;
  };
  return { name, reason, actor, filter, limit: whole('limit', request.limit, Number.MAX_SAFE_INTEGER), batchSize: whole('batchSize', request.batchSize, 1000) ?? 200 };
}
