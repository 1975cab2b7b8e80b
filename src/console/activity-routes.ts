/**
 * The overview's charts: completions, attempt failures and retries per minute over the last hour and
 * per hour over the last day. Buckets that have closed are kept in this console's memory and read
 * from the ledger once, so a refresh reads only the minute under way; the hour under way is the sum
 * of its minutes. The cost of a request follows the activity of the last minute or so, not the day's.
 */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import type { ActivityBucket } from '../store/index.js';

const minuteMs = 60_000;
const hourMs = 3_600_000;
/** An outcome's event carries its time and commits a moment later: a bucket counts as closed this long after its end. */
const closeLagMs = 30_000;

/** One series of `count` buckets of `bucketMs`, ending with the bucket under way. */
class ClosedBuckets {
  private readonly closed = new Map<number, ActivityBucket>();

  constructor(
    readonly bucketMs: number,
    readonly count: number,
  ) {}

  /** The buckets, oldest first; `open` gives the bucket under way instead of reading it (for the hours). */
  async read(jl: JobLedger, now: number, open?: (at: number) => ActivityBucket): Promise<ActivityBucket[]> {
    const current = Math.floor(now / this.bucketMs) * this.bucketMs;
    const first = current - (this.count - 1) * this.bucketMs;
    for (const at of this.closed.keys()) if (at < first) this.closed.delete(at);
    let missing = first;
    while (missing < current && this.closed.has(missing)) missing += this.bucketMs;
    const until = open ? current : now + 1;
    const read = missing < until ? await jl.ledger.countActivity({ from: missing, until, bucketMs: this.bucketMs }) : [];
    const fresh = new Map(read.map((b) => [b.at, b]));
    for (const b of read) if (b.at + this.bucketMs + closeLagMs <= now) this.closed.set(b.at, b);
    const buckets: ActivityBucket[] = [];
    for (let at = first; at <= current; at += this.bucketMs) {
      buckets.push(at === current && open ? open(at) : (this.closed.get(at) ?? fresh.get(at) ?? { at, completed: 0, failed: 0, retried: 0 }));
    }
    return buckets;
  }
}

export function registerActivityRoutes(app: FastifyInstance, jl: JobLedger): void {
  const minutes = new ClosedBuckets(minuteMs, 60);
  const hours = new ClosedBuckets(hourMs, 24);
  app.get('/api/overview/activity', { schema: { summary: 'Completions, attempt failures and retries per minute (last hour) and per hour (last day)', tags: ['overview'], querystring: { type: 'object', properties: {} } } }, async () => {
    const now = Date.now();
    const perMinute = await minutes.read(jl, now);
    const perHour = await hours.read(jl, now, (at) => {
      const sum: ActivityBucket = { at, completed: 0, failed: 0, retried: 0 };
      for (const m of perMinute) {
        if (m.at < at) continue;
        sum.completed += m.completed;
        sum.failed += m.failed;
        sum.retried += m.retried;
      }
      return sum;
    });
    return { perMinute, perHour, at: now };
  });
}
