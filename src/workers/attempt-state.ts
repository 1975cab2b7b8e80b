/**
 * One attempt's `ctx.state`. Reads go to the ledger; writes are validated and copied when the
 * handler makes them, kept in a buffer, and applied by an outcome hook inside the transaction that
 * records the attempt's outcome, only when that outcome is `completed`. A failed, retried, timed-out,
 * cancelled or superseded attempt applies nothing (the hook does not run for those).
 */
import { JobLedgerError } from '../errors.js';
import type { JobStateAccess } from '../jobs/job-state.js';
import { StateStore, applyStateOps, defaultStateLimits, validateOp, type Ledger, type OutcomeHook, type StateLimits, type StateOp } from '../store/index.js';

export class AttemptState {
  readonly access: JobStateAccess;
  /** Applies the buffered writes with a completed outcome; transitions carry the job id and `job:<name>`. */
  readonly outcomeHook: OutcomeHook;
  private readonly ops: StateOp[] = [];
  /** Why the buffered writes could not be applied (a version conflict, a missing entry), if they could not. */
  private rejection: JobLedgerError | undefined;

  constructor(ledger: Ledger, job: { id: string; name: string }, limits: StateLimits = defaultStateLimits) {
    const store = new StateStore(ledger, limits);
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
        await applyStateOps(tx, this.ops, { actor: `job:${job.name}`, jobId: job.id, now: applied.now });
      } catch (error) {
        if (error instanceof JobLedgerError) this.rejection = error;
        throw error;
      }
    };
  }

  /** True when `error` is this attempt's buffered writes failing to apply: the attempt must then fail. */
  rejected(error: unknown): error is JobLedgerError {
    return this.rejection !== undefined && error === this.rejection;
  }
}
