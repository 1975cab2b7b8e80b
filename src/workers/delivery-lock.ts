/**
 * Whether one delivery of a job still holds its BullMQ lock after this process's event loop was
 * blocked. BullMQ renews locks from a timer on the loop: a block longer than the lock lets the lock
 * lapse, BullMQ's stalled checker hands the job to another worker, and this process's attempt is
 * lost, whatever its handler goes on to return. The attempt pipeline asks at three points: before
 * it begins an attempt (a delivery that waited out a block must not start), right after (the begin
 * itself may have waited it out), and once the handler has settled (the frozen attempt's outcome
 * must not be applied as if it still owned the job).
 *
 * Cheap when nothing happened: only a block of at least half the lock since the delivery was
 * fetched (or last confirmed) sends a question to Redis, and Redis's answer decides. When Redis does
 * not answer, a block at least as long as the lock still means the lock lapsed.
 */
import type { Job } from 'bullmq';
import type { EventLoopMonitor } from './event-loop-monitor.js';

export class DeliveryLock {
  /** When the delivery was fetched from Redis (BullMQ's `processedOn`, this process's clock). */
  readonly deliveredAt: number;
  private confirmedAt: number;
  private lost: string | undefined;

  constructor(
    private readonly job: Pick<Job, 'processedOn' | 'extendLock'>,
    private readonly token: string | undefined,
    private readonly lockDurationMs: number,
    private readonly monitor: Pick<EventLoopMonitor, 'longestBlockSince'>,
  ) {
    this.deliveredAt = job.processedOn ?? Date.now();
    this.confirmedAt = this.deliveredAt;
  }

  /** True when a block since the fetch (or the last confirmation) may have cost the lock: ask `lostToBlock`. */
  get atRisk(): boolean {
    return this.lost !== undefined || this.monitor.longestBlockSince(this.confirmedAt) >= this.lockDurationMs / 2;
  }

  /** Why the delivery lost its lock to a block, or undefined while it may still hold it. */
  async lostToBlock(): Promise<string | undefined> {
    if (this.lost) return this.lost;
    const blockedMs = this.monitor.longestBlockSince(this.confirmedAt);
    if (blockedMs < this.lockDurationMs / 2) return undefined;
    const askedAt = Date.now();
    let held: boolean;
    try {
      held = this.token !== undefined && (await this.job.extendLock(this.token, this.lockDurationMs)) === 1;
    } catch {
      held = blockedMs < this.lockDurationMs;
    }
    if (held) {
      this.confirmedAt = askedAt;
      return undefined;
    }
    this.lost = `this process's event loop was blocked for ${blockedMs} ms (the lock lasts ${this.lockDurationMs} ms) and the job's lock lapsed`;
    return this.lost;
  }
}
