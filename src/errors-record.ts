/**
 * Errors of the record's files and runs: damaged snapshots, backups, evidence bundles and archive
 * segments, a failed replay, and a handler's thread that failed.
 */
import { JobLedgerError } from './errors-base.js';

/** A snapshot's stored checksum does not match its data: it was altered or corrupted. */
export class ChecksumMismatchError extends JobLedgerError {
  constructor(snapshotId: string, expected: string, actual: string) {
    super('JOBLEDGER_CHECKSUM_MISMATCH', `snapshot ${snapshotId}: expected checksum ${expected}, got ${actual}; refusing to restore it`);
  }
}

/** A backup file is not a sound jobledger ledger: unreadable, damaged, or without the ledger's tables. */
export class BackupInvalidError extends JobLedgerError {
  constructor(path: string, reason: string) {
    super('JOBLEDGER_BACKUP_INVALID', `${path} is not a sound jobledger backup: ${reason}`);
  }
}

/** An evidence bundle fails its check: unreadable, not a bundle, or a part whose checksum or counts differ from its manifest. */
export class BundleInvalidError extends JobLedgerError {
  constructor(path: string, reason: string) {
    super('JOBLEDGER_BUNDLE_INVALID', `${path} does not verify: ${reason}`);
  }
}

/**
 * A cold archive segment cannot be read as its index says: missing, a SHA-256 other than the one
 * recorded when it was written, or contents that differ from its counts. Nothing of it was used.
 */
export class ArchiveSegmentDamagedError extends JobLedgerError {
  constructor(
    readonly segmentId: string,
    location: string,
    reason: string,
  ) {
    super('JOBLEDGER_ARCHIVE_DAMAGED', `archive segment ${segmentId} (${location}) is damaged: ${reason}; nothing of it was read`);
  }
}

/**
 * A replay stopped on an error part way (a payload the job type's schema now refuses, a job type no
 * longer defined): the batches before it stand, the failing batch wrote nothing, and the replay is
 * recorded `failed` with this reason.
 */
export class ReplayFailedError extends JobLedgerError {
  constructor(
    readonly replayId: string,
    readonly created: number,
    cause: unknown,
  ) {
    super(
      'JOBLEDGER_REPLAY_FAILED',
      `replay ${replayId} stopped after ${created} new job${created === 1 ? '' : 's'}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

/**
 * A job type's thread handler (`defineJob`'s `threadHandler`) cannot run: its module is missing or
 * exports no handler function, its thread exited before the handler returned, or it was called on
 * the main thread.
 */
export class ThreadHandlerError extends JobLedgerError {
  constructor(
    readonly jobName: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('JOBLEDGER_THREAD_HANDLER', `${jobName}: ${detail}`, options);
  }
}
