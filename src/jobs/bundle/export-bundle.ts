/**
 * What goes into an evidence bundle of the ledger's record (evidence-bundle.ts writes the file):
 * the jobs the filter matches, and for a run or a pipeline the subject's own part.
 */
import type { DatabaseDialect } from '../../config.js';
import { packageVersion } from '../../package-version.js';
import type { Ledger } from '../../store/index.js';
import { exportJobRecords, type ArchivedRecords, type ExportFilter } from '../job-export.js';
import type { Pipelines } from '../pipelines.js';
import { writeEvidenceBundle, type BundleInput, type BundleManifest } from './evidence-bundle.js';

export interface BundleSources {
  ledger: Ledger;
  pipelines: Pick<Pipelines, 'detail'>;
  dialect: DatabaseDialect;
  /** The cold archive: its jobs that match go into the bundle too. */
  archive?: ArchivedRecords;
}

/** Writes the bundle of `filter`'s jobs at `target` (refused if it exists, unless `force`). */
export async function exportEvidenceBundle(sources: BundleSources, target: string, filter: ExportFilter, options: { force?: boolean } = {}): Promise<BundleManifest> {
  const subject = await bundleSubject(sources, filter);
  const schema = (await sources.ledger.appliedMigrations()).at(-1) ?? 'none';
  const input: BundleInput = {
    records: exportJobRecords(sources.ledger, filter, {}, sources.archive),
    subject,
    filter,
    jobledger: packageVersion(),
    schema,
    database: sources.dialect,
  };
  return writeEvidenceBundle(target, input, options);
}

/** A pipeline's bundle holds the pipeline (its stage visits and events); a run's, the run and its figures. */
async function bundleSubject({ ledger, pipelines }: BundleSources, filter: ExportFilter): Promise<BundleInput['subject']> {
  if (filter.pipelineId !== undefined) {
    const { pipeline, stages, events } = await pipelines.detail(filter.pipelineId);
    const visits = stages.map(({ job: _job, attempts: _attempts, ...visit }) => visit);
    return { type: 'pipeline', id: pipeline.id, part: 'pipeline.json', value: { pipeline, stages: visits, events } };
  }
  if (typeof filter.runId === 'string') {
    const run = await ledger.getRun(filter.runId);
    return { type: 'run', id: run.id, part: 'run.json', value: { run, figures: await ledger.runFigures(run.id) } };
  }
  return null;
}
