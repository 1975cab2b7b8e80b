/**
 * What a handler's `ctx.state` offers. Reads see committed state. Writes are buffered and applied in
 * the same transaction as the attempt's outcome, only if the attempt completes: a failed, retried,
 * timed-out, cancelled or superseded attempt applies none of them, so a retried or redelivered job
 * never applies its writes twice. A buffered write whose `expectedVersion` no longer holds when the
 * outcome is recorded fails the attempt (a `VersionConflictError`, retried like any failure).
 */
import type { ReadStateOptions, SetStateOptions, StateEntryRow, StateWriteOptions } from '../store/index.js';

/** Buffered writes take no actor: theirs is `job:<name>`, with the job's id on the transition. */
export type BufferedSetOptions = Omit<SetStateOptions, 'actor'>;
export type BufferedWriteOptions = Omit<StateWriteOptions, 'actor'>;

export interface JobStateAccess {
  /** The committed entry (this attempt's buffered writes are not visible); `NotFoundError` if none. */
  get(namespace: string, key: string, options?: ReadStateOptions): Promise<StateEntryRow>;
  /** Like `get`, with null instead of `NotFoundError`. */
  find(namespace: string, key: string, options?: ReadStateOptions): Promise<StateEntryRow | null>;
  /** Buffers a create-or-replace (validated and copied now; applied if the attempt completes). */
  set(namespace: string, key: string, data: unknown, options?: BufferedSetOptions): void;
  /** Buffers a status change of a live entry. */
  updateStatus(namespace: string, key: string, status: string, options?: BufferedWriteOptions): void;
  /** Buffers a soft delete of a live entry. */
  delete(namespace: string, key: string, options?: BufferedWriteOptions): void;
}
