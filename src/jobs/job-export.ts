/**
 * Exporting the record: every job a filter matches, each with its attempts and its event log,
 * streamed a page at a time so memory stays bounded by one page however many jobs match.
 */
import { InvalidOptionError, NotFoundError } from '../errors.js';
import { assertId, pipelineQueries, type JobDetail, type JobFilter, type Ledger } from '../store/index.js';

/** Which jobs to export: one job, a pipeline's jobs, or any of the listing filters (`jobledger jobs`), all optional. */
export type ExportFilter = Omit<JobFilter, 'limit' | 'offset' | 'before'> & {
  /** Only this job. */
  jobId?: string;
  /** The jobs of this pipeline (live or archived), in the order its stages ran them. */
  pipelineId?: string;
};

/** Where an export finds the jobs that are no longer live: the cold archive (jobs/archive/cold-archive.ts). */
export interface ArchivedRecords {
  /** An archived job's record, or null when it is not archived. */
  find(jobId: string): Promise<JobDetail | null>;
  /** The archived jobs a listing filter matches, newest first. */
  records(filter: Omit<JobFilter, 'limit' | 'offset' | 'before'>): AsyncGenerator<JobDetail>;
}

export interface ExportOptions {
  /**
   * Jobs read per page. Default 20: a job may hold a payload, a result and a progress of up to
   * 1 MiB each, so a page stays in the tens of MB at worst.
   */
  pageSize?: number;
}

/**
 * The job records of `filter`, newest first (one job: just that one). With `archive`, the archived
 * jobs the filter matches follow the live ones (newest first among themselves); a job is live or
 * archived, never both, and a live one is looked for first.
 */
export async function* exportJobRecords(ledger: Ledger, filter: ExportFilter = {}, options: ExportOptions = {}, archive?: ArchivedRecords): AsyncGenerator<JobDetail> {
  const { jobId, pipelineId, ...listing } = filter;
  if (jobId !== undefined && pipelineId !== undefined) throw new InvalidOptionError('filter', 'a job id or a pipeline id, not both', filter);
  if (jobId !== undefined) {
    yield await liveOrArchived(ledger, assertId('job', jobId), archive);
    return;
  }
  if (pipelineId !== undefined) {
    if (Object.keys(listing).length) throw new InvalidOptionError('filter', 'a pipeline id alone (its jobs are the ones its stages ran)', filter);
    yield* pipelineJobRecords(ledger, assertId('pip', pipelineId), archive);
    return;
  }
  const size = options.pageSize ?? 20;
  if (!Number.isSafeInteger(size) || size < 1 || size > 10_000) throw new RangeError(`pageSize: expected a whole number from 1 to 10000, got ${String(size)}`);
  let before: { createdAt: number; id: string } | undefined;
  for (;;) {
    const jobs = await ledger.listJobs({ ...listing, limit: size, ...(before ? { before } : {}) });
    const last = jobs.at(-1);
    if (!last) break;
    for (const record of await ledger.jobRecords(jobs)) yield record;
    if (jobs.length < size) break;
    before = { createdAt: last.createdAt, id: last.id };
  }
  if (archive) yield* archive.records(listing);
}

/** A job's record from the live tables, else from the archive; not-found when in neither. */
export async function liveOrArchived(ledger: Ledger, jobId: string, archive: ArchivedRecords | undefined): Promise<JobDetail> {
  try {
    return await ledger.getJobDetail(jobId);
  } catch (error) {
    if (!(error instanceof NotFoundError) || !archive) throw error;
    const archived = await archive.find(jobId);
    if (!archived) throw error;
    return archived;
  }
}

/** A pipeline's jobs, each once, in the order its stages ran them (its path names every job it ran). */
async function* pipelineJobRecords(ledger: Ledger, pipelineId: string, archive: ArchivedRecords | undefined): AsyncGenerator<JobDetail> {
  const detail = await ledger.readEntities((em) => pipelineQueries.getPipelineDetail(em, pipelineId));
  const ids = [...new Set(detail.stages.flatMap((stage) => (stage.job ? [stage.job.id] : [])))];
  for (const id of ids) yield await liveOrArchived(ledger, id, archive);
}
