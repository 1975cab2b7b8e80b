/**
 * The "events written" notice: after this process commits events, it publishes a small message on
 * a Redis channel so that followers of the event log (observability/event-subscription.ts) read now
 * rather than at their next poll. The notice carries nothing a follower relies on: the ledger is
 * what it reads, and a lost notice only delays it until that poll.
 *
 * At most one notice per `intervalMs`, whatever the rate of commits: a busy worker sends a few
 * dozen small PUBLISHes a second, not one per job.
 */
import type { Redis } from './redis-connection.js';

export function eventsWrittenChannel(prefix: string): string {
  return `${prefix}:jobledger:events-written`;
}

export class EventsWrittenNotice {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly redis: Pick<Redis, 'publish'>,
    private readonly prefix: string,
    private readonly intervalMs = 20,
  ) {}

  /** Events were committed: a notice goes out within `intervalMs` (one for all that come meanwhile). */
  notify(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A notice Redis does not take is lost on purpose: followers poll.
      this.redis.publish(eventsWrittenChannel(this.prefix), '1').catch(() => undefined);
    }, this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
