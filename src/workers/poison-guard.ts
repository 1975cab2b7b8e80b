/**
 * Poison jobs: a job that kills or freezes its worker process every time it starts would otherwise
 * crash-loop the fleet, or stall every job beside it until BullMQ's stall limit fails them. BullMQ
 * counts stalls too (`maxStalledCount`), but in Redis, per job, blind to whose fault a stall was: a
 * Redis flush or a reconciler hand-over starts the count again, a lost job the reconciler recovers
 * by its dead heartbeat never stalled in BullMQ's eyes, and the innocent jobs frozen beside a
 * blocking handler stall exactly as often as the blocker. The ledger keeps every attempt, so the
 * bound is checked there: a job whose last `maxLostAttempts` attempts were all lost (store/
 * lost-attempts.ts: recorded `stalled`, come back late as `superseded`, or still `running` while it
 * is delivered again) is failed, with the reason, instead of being started again.
 *
 * Blame. When a process dies or freezes, every attempt it was running is lost, the poison job's and
 * its innocent neighbours' alike, and they come back together; counted naively, a neighbour unlucky
 * enough to share the poison job's process every time would be failed with it. So a job one loss
 * away from the bound (a suspect) runs alone in its process: fetching pauses, the attempts already
 * running finish (waiting at most `soloWaitMs`), deliveries that arrive meanwhile are handed back to
 * Redis unstarted (delayed a moment, no attempt recorded, no stall counted), and only then does the
 * suspect start. Its last loss, if any, is its own; an innocent suspect completes, and no innocent
 * job reaches the bound while the blocker is alone. Jobs lost fewer times run as usual, so
 * recovering from an ordinary crash is not serialised (with `maxLostAttempts` 2, it would be).
 *
 * BullMQ's `maxStartedAttempts` was the other candidate; it counts every start (retries and
 * shutdown interruptions included), lives in Redis like the stall counter, and fails the job
 * outside the processor, where only an unawaited listener could record it.
 *
 * The check costs a ledger read, so it runs only for deliveries that may follow a lost attempt:
 * BullMQ says the job was started or stalled before, or the hand-over says the ledger started it
 * before (a re-added job's Redis counters begin at zero).
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisJobData } from '../jobs/dispatcher.js';
import type { Logger } from '../logger.js';
import { countLostAttemptsInARow, type Ledger } from '../store/index.js';
import type { DeliveryLock } from './delivery-lock.js';
import { afterSettled } from '../promises.js';

export type Processor = (job: Job, token?: string) => Promise<unknown>;

/** A processor that also gets what this process knows of the delivery's lock (delivery-lock.ts). */
export type DeliveryProcessor = (job: Job, token: string | undefined, lock: DeliveryLock) => Promise<unknown>;

export interface PoisonGuardOptions {
  ledger: Ledger;
  /** Lost attempts in a row after which the job is failed (Config.maxLostAttempts). */
  maxLostAttempts: number;
  gate: SoloGate;
  logger: Logger;
}

/** True when this delivery may follow a lost attempt, so the ledger is worth asking. */
export function mayFollowLostAttempt(job: Pick<Job, 'attemptsStarted' | 'stalledCounter' | 'data'>): boolean {
  return job.attemptsStarted > 1 || job.stalledCounter > 0 || ((job.data as RedisJobData | null)?.startedBefore ?? 0) > 0;
}

export function guardAgainstPoison(processor: DeliveryProcessor, options: PoisonGuardOptions): DeliveryProcessor {
  const { ledger, maxLostAttempts, gate, logger } = options;
  /** An ordinary delivery: run beside the others, unless a suspect has the process. */
  const admit = (job: Job, token: string | undefined, lock: DeliveryLock): Promise<unknown> => {
    if (!gate.tryEnter()) return handBack(job, token);
    return afterSettled(
      () => processor(job, token, lock),
      () => gate.leave(),
    );
  };
  const judge = async (job: Job, token: string | undefined, lock: DeliveryLock): Promise<unknown> => {
    const lost = await countLostAttemptsInARow(ledger, job.id!, maxLostAttempts, lock.deliveredAt);
    // The read may have waited out a freeze of this process: a delivery that lost its lock
    // meanwhile judges nothing and takes no process to itself (another worker has the job, or will).
    const stale = lost > 0 && lock.atRisk ? await lock.lostToBlock() : undefined;
    if (stale) {
      logger.warn({ jobId: job.id, reason: stale }, 'not judging a delivery that lost its lock');
      throw new DelayedError();
    }
    if (lost >= maxLostAttempts) {
      const reason =
        `lost ${lost} attempts in a row (each time its worker died, froze or lost the job before an outcome): ` +
        `not starting it again (JOBLEDGER_MAX_LOST_ATTEMPTS=${maxLostAttempts})`;
      // Records the last lost attempt `stalled` and the job `failed` in one transaction, fenced
      // (also on this delivery being no older than the job's running attempt). False when the job
      // is final already (or changed): the processor then short-circuits on the final job, or
      // starts it (or finds the delivery stale), as for any other delivery.
      if (await ledger.failStalledJob(job.id!, reason, Date.now(), lock.deliveredAt)) {
        logger.error({ jobId: job.id, lost }, 'poison job: failed instead of started again');
        throw new UnrecoverableError(reason);
      }
    }
    if (lost > 0 && lost >= maxLostAttempts - 1) {
      const release = await gate.enterSolo();
      if (!release) return handBack(job, token);
      const beside = gate.runningCount;
      if (beside === 0) logger.warn({ jobId: job.id, lost }, 'a job whose last attempt was lost runs alone in this process');
      else logger.warn({ jobId: job.id, lost, beside }, 'a job whose last attempt was lost starts beside attempts that did not finish in time');
      try {
        return await processor(job, token, lock);
      } finally {
        release();
      }
    }
    return await admit(job, token, lock);
  };
  // A delivery that cannot follow a lost attempt (most are a job's first) reads nothing and goes
  // straight to the gate.
  return (job, token, lock) => (job.id && mayFollowLostAttempt(job) ? judge(job, token, lock) : admit(job, token, lock));
}

/** Gives an unstarted delivery back to Redis for a moment (no attempt, no stall, no retry spent). */
export async function handBack(job: Job, token: string | undefined): Promise<never> {
  await job.moveToDelayed(Date.now() + 100 + Math.floor(Math.random() * 400), token);
  throw new DelayedError();
}

/**
 * How long a suspect waits for the attempts already running: two lock durations. Long enough for
 * ordinary attempts to finish, so that the suspect really runs alone (if it starts beside them and
 * freezes or kills the process, they are lost with it: no innocent job is failed for it, since
 * none beside it is a suspect, but they run again); bounded, because a handler that ignores its
 * abort signal may never finish.
 */
export function soloWaitMs(lockDurationMs: number): number {
  return 2 * lockDurationMs;
}

export interface SoloGateHooks {
  /** Stop fetching (every consumer of the process). */
  pause(): Promise<void>;
  resume(): void;
  /** How long a suspect waits for the attempts already running before it starts anyway. */
  soloWaitMs: number;
}

/** Lets one suspect job run alone in the process (see above); everything else waits its turn outside. */
export class SoloGate {
  private running = 0;
  private solo = false;
  private drained: (() => void) | undefined;

  constructor(private readonly hooks: SoloGateHooks) {}

  /** Ordinary attempts in the process now. */
  get runningCount(): number {
    return this.running;
  }

  /** An ordinary delivery: admitted, or `false` while a suspect has the process (hand it back). */
  tryEnter(): boolean {
    if (this.solo) return false;
    this.running++;
    return true;
  }

  leave(): void {
    this.running--;
    if (this.running === 0) this.drained?.();
  }

  /**
   * A suspect: `undefined` if another one has the process (hand it back); else fetching stops,
   * the running attempts finish (bounded by `soloWaitMs`), and the returned release reopens.
   */
  async enterSolo(): Promise<(() => void) | undefined> {
    if (this.solo) return undefined;
    this.solo = true;
    try {
      await this.hooks.pause();
      if (this.running > 0) {
        const drained = new Promise<void>((resolve) => (this.drained = resolve));
        await Promise.race([drained, sleep(this.hooks.soloWaitMs, undefined, { ref: false })]);
      }
    } catch (error) {
      this.reopen();
      throw error;
    } finally {
      this.drained = undefined;
    }
    return () => this.reopen();
  }

  private reopen(): void {
    this.solo = false;
    this.hooks.resume();
  }
}
