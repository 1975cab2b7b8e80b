/**
 * The change notices between processes, on the Redis channel `<prefix>:jobledger:state-changes`:
 * a writer announces the keys it is about to write (`fence`), then the versions it committed
 * (`settle`, version 0 for a key whose write did not commit); `flush` empties every LRU. Each
 * process subscribes on its own connection and applies other processes' notices to its LRU.
 *
 * Pub/sub delivers at most once, and only to a subscribed connection: while the subscription is
 * down (Redis away, reconnecting) a notice can be missed, so the LRU stops serving and is emptied,
 * and serves again only once SUBSCRIBE has been acknowledged on the new connection.
 */
import type { Redis } from '../transport/redis-connection.js';
import type { LocalTier } from './local-tier.js';

export type ChangeNotice =
  | { t: 'fence'; p: string; ids: string[] }
  | { t: 'settle'; p: string; ids: [string, number][] }
  | { t: 'flush'; p: string };

export function changesChannel(prefix: string): string {
  return `${prefix}:jobledger:state-changes`;
}

export function encodeNotice(notice: ChangeNotice): string {
  return JSON.stringify(notice);
}

/** Parses a notice; anything else on the channel is ignored (null). */
export function parseNotice(raw: string): ChangeNotice | null {
  try {
    const notice = JSON.parse(raw) as ChangeNotice;
    if (typeof notice !== 'object' || notice === null || typeof notice.p !== 'string') return null;
    if (notice.t === 'fence' && Array.isArray(notice.ids) && notice.ids.every((id) => typeof id === 'string')) return notice;
    if (notice.t === 'settle' && Array.isArray(notice.ids) && notice.ids.every((e) => Array.isArray(e) && typeof e[0] === 'string' && Number.isSafeInteger(e[1]))) return notice;
    if (notice.t === 'flush') return notice;
    return null;
  } catch {
    return null;
  }
}

export class ChangeSubscription {
  private closed = false;

  constructor(
    private readonly subscriber: Redis,
    private readonly channel: string,
    private readonly processId: string,
    private readonly local: LocalTier,
    /** Told of each notice applied (for statistics and the staleness measurement). */
    private readonly onNotice: (notice: ChangeNotice) => void = () => undefined,
  ) {
    subscriber.on('message', (channel: string, raw: string) => {
      if (channel !== this.channel) return;
      const notice = parseNotice(raw);
      if (!notice || notice.p === this.processId) return;
      this.apply(notice);
    });
    // Any break of the connection may lose notices: stop serving until subscribed again.
    subscriber.on('close', () => this.local.setServing(false));
    subscriber.on('ready', () => void this.subscribe());
    if (subscriber.status === 'ready') void this.subscribe();
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
      if (!this.closed && this.subscriber.status === 'ready') this.local.setServing(true);
    } catch {
      // The connection dropped again; its next 'ready' subscribes.
    }
  }

  private apply(notice: ChangeNotice): void {
    if (notice.t === 'fence') for (const id of notice.ids) this.local.fence(id);
    else if (notice.t === 'settle') for (const [id, version] of notice.ids) this.local.settle(id, version);
    else this.local.clear();
    this.onNotice(notice);
  }

  close(): void {
    this.closed = true;
    this.local.setServing(false);
  }
}
