/**
 * One attempt's `ctx.state`. Reads go through the hot tiers when the worker has them (else to the
 * ledger); writes are validated and copied when the
 * handler makes them, kept in a buffer, and applied by an outcome hook inside the transaction that
 * records the attempt's outcome, only when that outcome is `completed`. A failed, retried, timed-out,
 * cancelled or superseded attempt applies nothing (the hook does not run for those).
 */
import { JobLedgerError } from '../errors.js';
import type { JobStateAccess } from '../jobs/job-state.js';
import { StateStore, applyStateOps, defaultStateLimits, validateOp, type Ledger, type OutcomeHook, type StateEntryRow, type StateLimits, type StateOp } from '../store/index.js';
import type { TieredStateStore } from '../hot-state/tiered-state-store.js';

export class AttemptState {
  readonly access: JobStateAccess;
  /** Applies the buffered writes with a completed outcome; transitions carry the job id and `job:<name>`. */
  readonly outcomeHook: OutcomeHook;
  private readonly ops: StateOp[] = [];
  /** Why the buffered writes could not be applied (a version conflict, a missing entry), if they could not. */
  private rejection: JobLedgerError | undefined;
  /** The entries the hook wrote, as committed if the outcome's transaction commits. */
  private applied: StateEntryRow[] = [];
  private readonly tiered: TieredStateStore | undefined;

  constructor(ledger: Ledger, job: { id: string; name: string }, limits: StateLimits = defaultStateLimits, tiered?: TieredStateStore) {
    this.tiered = tiered;
    const store = tiered ?? new StateStore(ledger, limits);
    const buffer = (op: StateOp): void => {
      this.ops.push(validateOp(op, limits));
    };
    this.access = {
      get: (namespace, key, options) => store.get(namespace, key, options),
      find: (namespace, key, options) => store.find(namespace, key, options),
      set: (namespace, key, data, options = {}) => buffer({ ...options, op: 'set', namespace, key, data }),
      updateStatus: (namespace, key, status, options = {}) => buffer({ ...options, op: 'status', namespace, key, status }),
      delete: (namespace, key, options = {}) => buffer({ ...options, op: 'delete', namespace, key }),
    };
    this.outcomeHook = async (tx, applied) => {
      if (applied.outcome.type !== 'completed' || this.ops.length === 0) return;
      try {
        this.applied = await applyStateOps(tx, this.ops, { actor: `job:${job.name}`, jobId: job.id, now: applied.now });
      } catch (error) {
        if (error instanceof JobLedgerError) this.rejection = error;
        throw error;
      }
    };
  }

  /** Before the outcome is recorded: fences the keys of the buffered writes in the hot tiers (what `settleWrites` takes). */
  async fenceWrites(): Promise<string[]> {
    if (!this.tiered || this.ops.length === 0) return [];
    return this.tiered.fenceWrites(this.ops);
  }

  /** After the outcome's transaction ended (`committed`: it did): the hot tiers learn the new versions, or lift the fences. */
  async settleWrites(fenced: readonly string[] | undefined, committed: boolean): Promise<void> {
    if (!this.tiered || (this.ops.length === 0 && !fenced?.length)) return;
    await this.tiered.settleWrites(fenced ?? [], committed ? this.applied : []);
  }

  /** True when `error` is this attempt's buffered writes failing to apply: the attempt must then fail. */
  rejected(error: unknown): error is JobLedgerError {
    return this.rejection !== undefined && error === this.rejection;
  }
}
