/** The settings of the cold archive tier of finished jobs (docs/operations.md, "Cold archive"). */
import { InvalidConfigError } from './errors.js';
import { maskUrl } from './mask-url.js';
import { parseBoolean, parseDays, parseDaysByQueue } from './config-values.js';

export interface ColdArchiveConfig {
  /**
   * Finished jobs are moved to the archive this many days after they finish, by the prune task
   * (which then deletes no jobs) or `jobledger archive run`; `null` (`off`) archives nothing.
   * Env `JOBLEDGER_ARCHIVE_AFTER_DAYS`; default off.
   */
  afterDays: number | null;
  /** Per-queue overrides (`emails=7,audit=off`). Env `JOBLEDGER_ARCHIVE_AFTER_DAYS_BY_QUEUE`. */
  afterDaysByQueue: Readonly<Record<string, number | null>>;
  /** The directory segments are written to, unless an S3 bucket is set. Env `JOBLEDGER_ARCHIVE_DIR`; default `./jobledger-archive`. */
  directory: string;
  /**
   * An S3-compatible bucket instead of the directory: env `JOBLEDGER_ARCHIVE_S3_BUCKET`, `_S3_PREFIX`
   * (key prefix, default none), `_S3_ENDPOINT` (default AWS), `_S3_REGION` (default the AWS SDK's
   * chain), `_S3_FORCE_PATH_STYLE` (default false; true for most S3-compatible servers). Credentials
   * come from the AWS SDK's default chain. `null` when no bucket is set.
   */
  s3: Readonly<{ bucket: string; prefix: string; endpoint: string | null; region: string | null; forcePathStyle: boolean }> | null;
}

export const coldArchiveDefaults = {
  JOBLEDGER_ARCHIVE_AFTER_DAYS: 'off',
  JOBLEDGER_ARCHIVE_AFTER_DAYS_BY_QUEUE: '',
  JOBLEDGER_ARCHIVE_DIR: './jobledger-archive',
  JOBLEDGER_ARCHIVE_S3_BUCKET: '',
  JOBLEDGER_ARCHIVE_S3_PREFIX: '',
  JOBLEDGER_ARCHIVE_S3_ENDPOINT: '',
  JOBLEDGER_ARCHIVE_S3_REGION: '',
  JOBLEDGER_ARCHIVE_S3_FORCE_PATH_STYLE: 'false',
} as const;

export function parseColdArchive(read: (name: keyof typeof coldArchiveDefaults) => string): ColdArchiveConfig {
  const bucket = read('JOBLEDGER_ARCHIVE_S3_BUCKET');
  if (bucket !== '' && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new InvalidConfigError(`JOBLEDGER_ARCHIVE_S3_BUCKET: expected an S3 bucket name (3 to 63 lowercase letters, digits, "." or "-"), got ${JSON.stringify(bucket)}`);
  }
  const endpoint = read('JOBLEDGER_ARCHIVE_S3_ENDPOINT');
  if (endpoint !== '' && !/^https?:\/\//.test(endpoint)) {
    throw new InvalidConfigError(`JOBLEDGER_ARCHIVE_S3_ENDPOINT: expected an http:// or https:// URL, got ${JSON.stringify(maskUrl(endpoint))}`);
  }
  const region = read('JOBLEDGER_ARCHIVE_S3_REGION');
  return Object.freeze({
    afterDays: parseDays('JOBLEDGER_ARCHIVE_AFTER_DAYS', read('JOBLEDGER_ARCHIVE_AFTER_DAYS'), 'off'),
    afterDaysByQueue: parseDaysByQueue('JOBLEDGER_ARCHIVE_AFTER_DAYS_BY_QUEUE', read('JOBLEDGER_ARCHIVE_AFTER_DAYS_BY_QUEUE'), 'off'),
    directory: read('JOBLEDGER_ARCHIVE_DIR'),
    s3:
      bucket === ''
        ? null
        : Object.freeze({
            bucket,
            prefix: read('JOBLEDGER_ARCHIVE_S3_PREFIX'),
            endpoint: endpoint === '' ? null : endpoint,
            region: region === '' ? null : region,
            forcePathStyle: parseBoolean('JOBLEDGER_ARCHIVE_S3_FORCE_PATH_STYLE', read('JOBLEDGER_ARCHIVE_S3_FORCE_PATH_STYLE')),
          }),
  });
}
