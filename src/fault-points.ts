/**
 * Fault points: named places between two steps whose order the delivery promise depends on (a commit
 * and the word Redis gets, for example). The fault-injection suite (test/fault/) installs an
 * injector that kills the process at one of them; the package installs none and offers no way to
 * (nothing here reads the environment, and `installFaultInjector` is not exported by the package),
 * so in an application every point is a no-op that costs one null check.
 */

export const faultPointNames = [
  /**
   * Enqueue: the job rows and events are written inside the open transaction, not committed yet
   * (on every enqueue path); the crash record says how many rows the transaction holds.
   */
  'enqueue.before_commit',
  /** Enqueue: committed, not handed to Redis yet. */
  'enqueue.after_commit',
  /**
   * A hand-over (enqueue, relay, reconcile): Redis has the jobs, the ledger's outbox mark is not
   * written yet. Passed once per queue and hand-over, or once per job, before its caller is answered,
   * where single enqueues are answered job by job.
   */
  'enqueue.after_redis',
  /** An attempt: its outcome is committed, BullMQ has not been told yet; the crash record names the attempt. */
  'outcome.after_commit',
  /** A recurring job's tick: claimed (its `maintenance_runs` row committed), its job not enqueued yet. */
  'schedule.after_claim',
] as const;

export type FaultPointName = (typeof faultPointNames)[number];

/** What a test harness installs: whether to crash at this pass, and the crash itself. */
export interface FaultInjector {
  /** Counts a pass of `name`; true when this pass is the one to crash at. */
  due(name: FaultPointName): boolean;
  /** Ends the process at `name`, after reporting what was found there (`record`). */
  crash(name: FaultPointName, record?: string): void;
}

let injector: FaultInjector | null = null;

/** For the fault-injection suite's child processes only (test/support/fixtures/fault-injector.ts). */
export function installFaultInjector(next: FaultInjector | null): void {
  injector = next;
}

/** A named fault point: crashes the process if an injector says this pass is due, else does nothing. */
export function faultPoint(name: FaultPointName, record?: string): void {
  if (faultPointDue(name)) crashAt(name, record);
}

/**
 * Whether this pass of `name` is the one to crash at. For a point that must first look at where it
 * is (what the transaction holds, say): the caller gathers that, then calls `crashAt`.
 */
export function faultPointDue(name: FaultPointName): boolean {
  return injector !== null && injector.due(name);
}

/** Crashes at `name` through the installed injector (none: nothing happens). */
export function crashAt(name: FaultPointName, record?: string): void {
  injector?.crash(name, record);
}
