/**
 * The in-process tier of hot state: an LRU of held values (lru-cache, bounded by entries and by
 * bytes), and what keeps it from serving old versions:
 *
 * - `floors`: per key, the newest version this process has returned, written or been told of by
 *   another process's commit notice. A held value below its key's floor is never served (monotonic
 *   reads) and never stored. Bounded too (an LRU of numbers, `floorEntries`); a floor that falls
 *   out is only a guard lost for a key this process has not touched for a long while.
 * - `fenced`: keys another process announced it is writing, until its commit notice or its lease
 *   ends. A value read meanwhile may be the version before that commit, so it is not kept here.
 * - `serving`: false while the invalidation channel is not subscribed (Redis away, reconnecting):
 *   notices could be missed then, so the LRU is emptied and bypassed until it is subscribed again.
 * - `maxAgeMs`: a value taken from SQL (or committed) longer ago is not served: the bound on what a
 *   notice that never came (a writer cut off from Redis) can leave behind.
 *
 * Held values include the markers of keys SQL has no entry of (hot-value.ts): fences, notices and
 * floors drop them like any other value.
 */
import { LRUCache } from 'lru-cache';
import { hotValueBytes, supersedes, type HotValue } from './hot-value.js';
import type { TierStats } from './tier-stats.js';

export interface LocalTierOptions {
  maxEntries: number;
  maxBytes: number;
  /** How long a fence announced by another process holds here without its commit notice. */
  leaseMs: number;
  /** A value taken from SQL longer ago than this is not served (SQL is read again). */
  maxAgeMs: number;
}

export class LocalTier {
  private readonly lru: LRUCache<string, HotValue>;
  private readonly floors: LRUCache<string, number>;
  private readonly fenced = new Map<string, number>();
  private serving = false;

  constructor(
    options: LocalTierOptions,
    private readonly stats: TierStats,
    private readonly now: () => number = Date.now,
  ) {
    this.leaseMs = options.leaseMs;
    this.maxAgeMs = options.maxAgeMs;
    this.lru = new LRUCache<string, HotValue>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: hotValueBytes,
      // Pushed out for room: a demotion (deletions and replacements are counted where they happen).
      disposeAfter: (_value, _key, reason) => {
        if (reason === 'evict') this.stats.lru.demotions++;
      },
    });
    this.floors = new LRUCache<string, number>({ max: Math.max(100_000, options.maxEntries * 4) });
  }

  private readonly leaseMs: number;
  private readonly maxAgeMs: number;

  get isServing(): boolean {
    return this.serving;
  }

  /** The channel is subscribed (start serving) or lost (empty the LRU and stop serving). */
  setServing(serving: boolean): void {
    if (!serving && this.lru.size > 0) {
      this.stats.lru.invalidations += this.lru.size;
      this.lru.clear();
    }
    this.serving = serving;
  }

  /** The held value of `id` (a missing key's marker included), or undefined (not serving, none, fenced, below the floor, too old). */
  get(id: string): HotValue | undefined {
    if (!this.serving) return undefined;
    const value = this.lru.get(id);
    if (value === undefined) return undefined;
    if (this.isFenced(id) || value.version < this.floor(id) || this.now() - value.storedAt > this.maxAgeMs) {
      this.stats.lru.staleSkips++;
      this.lru.delete(id);
      return undefined;
    }
    return value;
  }

  /** Drops a held value that failed its checksum. */
  reject(id: string): void {
    this.lru.delete(id);
  }

  floor(id: string): number {
    return this.floors.get(id) ?? 0;
  }

  /** This process returned, wrote or was told of `version`: nothing older is served from now on. */
  raiseFloor(id: string, version: number): void {
    if (version > this.floor(id)) this.floors.set(id, version);
  }

  /** Keeps a value read from Redis or SQL, or written here, unless it is older than what is known. Returns whether it was kept. */
  promote(value: HotValue, ownWrite = false): boolean {
    if (!this.serving || value.version < this.floor(value.id) || (!ownWrite && this.isFenced(value.id))) return false;
    const held = this.lru.peek(value.id);
    if (held && !supersedes(value, held)) return false;
    this.lru.set(value.id, value);
    this.stats.lru.promotions++;
    return true;
  }

  /** Another process is writing `id`: drop it and keep nothing of it until its commit notice or the lease. */
  fence(id: string): void {
    this.invalidate(id);
    if (this.fenced.size > 10_000) this.sweepFences();
    this.fenced.set(id, this.now() + this.leaseMs);
  }

  /** Another process committed `version` of `id` (0: its write did not commit): older held values go. */
  settle(id: string, version: number): void {
    this.fenced.delete(id);
    if (version === 0) return;
    this.raiseFloor(id, version);
    const held = this.lru.peek(id);
    if (held && held.version < version) this.invalidate(id);
  }

  /** Drops `id` (a write, a notice). */
  invalidate(id: string): void {
    if (this.lru.delete(id)) this.stats.lru.invalidations++;
  }

  /** Drops everything (a flush notice). */
  clear(): void {
    this.stats.lru.invalidations += this.lru.size;
    this.lru.clear();
  }

  get bytesHeld(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  private isFenced(id: string): boolean {
    const until = this.fenced.get(id);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.fenced.delete(id);
    return false;
  }

  private sweepFences(): void {
    const now = this.now();
    for (const [id, until] of this.fenced) if (until <= now) this.fenced.delete(id);
  }
}
