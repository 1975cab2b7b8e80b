/**
 * Statistics are per process (each has its own LRU and counters), so `jobledger state stats`, a
 * process of its own, cannot read them from memory. Like worker health (workers/consumer-watchdog.ts),
 * each process with the hot tiers on publishes its figures every `intervalMs` into the hash
 * `<prefix>:jobledger:state-stats`, one field per process, and removes its field when it closes;
 * readers skip figures older than a few intervals (a process that died without closing).
 */
import { withTimeout, type Redis } from '../transport/redis-connection.js';
import type { HotStateStats } from './tier-stats.js';

export function stateStatsKey(prefix: string): string {
  return `${prefix}:jobledger:state-stats`;
}

export class StatsPublisher {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly processId: string,
    intervalMs: number,
    private readonly figures: () => Promise<HotStateStats>,
  ) {
    this.timer = setInterval(() => {
      this.running = this.publish();
    }, intervalMs);
    this.timer.unref();
  }

  /** Publishes now (also what the timer does); a Redis that does not answer only skips a report. */
  async publish(): Promise<void> {
    try {
      const figures = await this.figures();
      if (figures.reads === 0 && figures.tiers.redis.promotions === 0) return;
      await withTimeout(this.redis.hset(stateStatsKey(this.prefix), this.processId, JSON.stringify(figures)), 1000, 'publishing state statistics');
    } catch {
      // Skipped; the next interval reports again.
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    if (this.redis.status !== 'ready') return;
    await withTimeout(this.redis.hdel(stateStatsKey(this.prefix), this.processId), 1000, 'removing state statistics').catch(() => undefined);
  }
}

/** The published figures of every process, newest first, skipping those older than `maxAgeMs`. */
export async function readPublishedStats(redis: Redis, prefix: string, maxAgeMs: number, now = Date.now()): Promise<HotStateStats[]> {
  const entries = await redis.hgetall(stateStatsKey(prefix));
  const all: HotStateStats[] = [];
  for (const raw of Object.values(entries)) {
    try {
      const figures = JSON.parse(raw) as HotStateStats;
      if (typeof figures.takenAt === 'number' && now - figures.takenAt <= maxAgeMs && figures.tiers) all.push(figures);
    } catch {
      // Not a report: skipped.
    }
  }
  return all.sort((a, b) => b.takenAt - a.takenAt);
}
