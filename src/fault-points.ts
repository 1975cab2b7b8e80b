/**
 * Fault points: TEST-ONLY crash hooks for the fault-injection suite (test/fault/). Each named point
 * sits between two steps whose order the delivery promise depends on (a commit and the word Redis
 * gets, for example). When `JOBLEDGER_FAULT_INJECT` names a point, the process SIGKILLs itself the
 * n-th time it passes there: no `finally`, no shutdown handler, no flush — exactly what a power cut
 * or an OOM kill leaves behind. Unset (always, in production) every point is a no-op that costs one
 * Map lookup.
 *
 *   JOBLEDGER_FAULT_INJECT=enqueue.after_commit          the first time
 *   JOBLEDGER_FAULT_INJECT=outcome.after_commit@20       the 20th time
 */
import { writeSync } from 'node:fs';

export const faultPointNames = [
  /**
   * Enqueue: the job rows and events are written inside the open transaction, not committed yet
   * (on every enqueue path); the crash line says how many rows the transaction holds.
   */
  'enqueue.before_commit',
  /** Enqueue: committed, not handed to Redis yet. */
  'enqueue.after_commit',
  /** A hand-over (enqueue, relay, reconcile): Redis has the jobs, the ledger's outbox mark is not written yet. */
  'enqueue.after_redis',
  /** An attempt: its outcome is committed, BullMQ has not been told yet; the crash line names the attempt. */
  'outcome.after_commit',
] as const;

export type FaultPointName = (typeof faultPointNames)[number];

export interface FaultSpec {
  point: FaultPointName;
  /** Crash on the n-th pass (1 = the first). */
  hit: number;
}

/** Remaining passes before each armed point fires. */
const armed = new Map<FaultPointName, number>();

/** Arms the points of a configuration (`Config.faultInject`); called once by `JobLedger.open`. */
export function armFaultPoints(specs: readonly FaultSpec[]): void {
  for (const spec of specs) armed.set(spec.point, spec.hit);
}

/** A named crash point: kills this process if the configuration armed it, else does nothing. */
export function faultPoint(name: FaultPointName, record?: string): void {
  if (faultPointDue(name)) crashAt(name, record);
}

/**
 * Counts a pass of `name`; true when this pass is the one to crash at. For a point that must first
 * look at where it is (what the transaction holds, say): the caller gathers that, then `crashAt`.
 * A due pass is not counted until the crash, so a pass whose look fails is due again next time.
 */
export function faultPointDue(name: FaultPointName): boolean {
  if (armed.size === 0) return false;
  const remaining = armed.get(name);
  if (remaining === undefined) return false;
  if (remaining > 1) {
    armed.set(name, remaining - 1);
    return false;
  }
  return true;
}

/** Kills this process at `name`, after writing what it found there (`record`) on stderr. */
export function crashAt(name: FaultPointName, record?: string): void {
  // Synchronous write: an asynchronous one would never leave the process.
  writeSync(2, `jobledger: fault injected at ${name} (JOBLEDGER_FAULT_INJECT)${record ? `: ${record}` : ''}; killing the process\n`);
  process.kill(process.pid, 'SIGKILL');
}

/** Parses `point[@n],...`; returns an error message for the configuration to raise, or the specs. */
export function parseFaultSpecs(raw: string): FaultSpec[] | string {
  if (raw === '') return [];
  const specs: FaultSpec[] = [];
  for (const item of raw.split(',')) {
    const [point = '', hit = '1'] = item.trim().split('@');
    if (!(faultPointNames as readonly string[]).includes(point) || !/^[1-9]\d*$/.test(hit)) {
      return `expected point[@n] with a point among ${faultPointNames.join(', ')}, got ${JSON.stringify(item)}`;
    }
    specs.push({ point: point as FaultPointName, hit: Number(hit) });
  }
  return specs;
}
