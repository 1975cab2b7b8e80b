/**
 * How long this process's event loop was blocked, and by whom.
 *
 * BullMQ renews a job's lock from a timer on the event loop. A handler that computes without
 * yielding (or a paused process: SIGSTOP, a VM migration) stops every renewal in the process; past
 * the lock duration, every job the process runs is handed to another worker, the blocker's and its
 * innocent neighbours' alike. So the worker watches its own loop:
 *
 * - A timer ticks every `sampleMs`; a tick that comes late by more than a quarter of the lock is a
 *   block, logged as a warning naming the attempts that were running through it (and the one that
 *   blocked it, when its handler's synchronous run is what took the time).
 * - `longestBlockSince` tells the attempt pipeline whether a delivery may have lost its lock to a
 *   block (execute-attempt.ts then asks Redis, and records the attempt lost if it did).
 * - `monitorEventLoopDelay` (perf_hooks) keeps the delay's distribution for `stats()`.
 *
 * The timer is unref'd: it never keeps a process alive. It measures with `Date.now()` because the
 * times it is compared with (a delivery's fetch, an attempt's start) are wall-clock times.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../logger.js';

export interface EventLoopMonitorOptions {
  lockDurationMs: number;
  logger: Logger;
  /** How often the loop is sampled. Default: a tenth of the lock, within 20..500 ms. */
  sampleMs?: number;
}

/** An attempt as the monitor names it. */
export interface AttemptOnLoop {
  jobId: string;
  /** The job type. */
  name: string;
  attempt: number;
}

/**
 * A running attempt registered with the monitor; `end()` when its handler has settled. One object
 * per attempt, methods on the prototype: this is on every attempt's path.
 */
export class TrackedAttempt implements AttemptOnLoop {
  endedAt: number | undefined;
  /** The longest synchronous run of its handler (until it first yielded), in ms. */
  syncMs = 0;

  constructor(
    private readonly monitor: EventLoopMonitor,
    readonly jobId: string,
    readonly name: string,
    readonly attempt: number,
  ) {}

  /** The handler's synchronous run (until it first yielded) took `ms`. */
  ranSynchronously(ms: number): void {
    if (ms > this.syncMs) this.syncMs = ms;
  }

  end(): void {
    this.endedAt = Date.now();
    this.monitor.ended(this);
  }
}

interface Block {
  endedAt: number;
  ms: number;
}

/** Blocks kept for `longestBlockSince`: enough for a delivery's lifetime, bounded in memory. */
const keptBlocks = 64;

export interface EventLoopStats {
  /** The delay's 99th percentile and maximum since the last call, in ms. */
  delayP99Ms: number;
  delayMaxMs: number;
  /** Blocks longer than a quarter of the lock since the worker started. */
  blocks: number;
}

export class EventLoopMonitor {
  /** A block this long is warned about: a quarter of the lock. */
  readonly warnAfterMs: number;
  private readonly sampleMs: number;
  private readonly running = new Set<TrackedAttempt>();
  /** Attempts that ended during the gap the next tick measures, when it may be a block. */
  private endedSinceTick: TrackedAttempt[] = [];
  private readonly blocks: Block[] = [];
  private blockCount = 0;
  private lastTickAt = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private histogram: IntervalHistogram | undefined;

  constructor(private readonly options: EventLoopMonitorOptions) {
    this.warnAfterMs = Math.max(1, Math.floor(options.lockDurationMs / 4));
    this.sampleMs = options.sampleMs ?? Math.min(500, Math.max(20, Math.floor(options.lockDurationMs / 10)));
  }

  start(): void {
    if (this.timer) return;
    this.lastTickAt = Date.now();
    this.timer = setInterval(() => this.tick(), this.sampleMs).unref();
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.histogram?.disable();
  }

  track(attempt: AttemptOnLoop): TrackedAttempt {
    const tracked = new TrackedAttempt(this, attempt.jobId, attempt.name, attempt.attempt);
    this.running.add(tracked);
    return tracked;
  }

  /** (TrackedAttempt.end) Kept for the next tick only if the gap it measures is already a block. */
  ended(tracked: TrackedAttempt): void {
    if (!this.running.delete(tracked)) return;
    if ((tracked.endedAt ?? 0) - this.lastTickAt - this.sampleMs >= this.warnAfterMs) this.endedSinceTick.push(tracked);
  }

  /**
   * The longest block that may have overlapped the time since `since` (epoch ms), in ms, the one
   * that may be ending right now (the loop is running again, the tick has not come yet) included.
   */
  longestBlockSince(since: number): number {
    let longest = this.timer ? Math.max(0, Date.now() - this.lastTickAt - this.sampleMs) : 0;
    for (const block of this.blocks) if (block.endedAt >= since && block.ms > longest) longest = block.ms;
    return longest;
  }

  stats(): EventLoopStats {
    const histogram = this.histogram;
    const toMs = (ns: number): number => Math.round(ns / 1e5) / 10;
    const stats = {
      delayP99Ms: histogram ? toMs(histogram.percentile(99)) : 0,
      delayMaxMs: histogram ? toMs(histogram.max) : 0,
      blocks: this.blockCount,
    };
    histogram?.reset();
    return stats;
  }

  private tick(): void {
    const now = Date.now();
    const previous = this.lastTickAt;
    const blockedMs = now - previous - this.sampleMs;
    this.lastTickAt = now;
    const ended = this.endedSinceTick;
    this.endedSinceTick = [];
    if (blockedMs < this.warnAfterMs) return;
    this.blocks.push({ endedAt: now, ms: blockedMs });
    if (this.blocks.length > keptBlocks) this.blocks.shift();
    this.blockCount++;
    // The block lay between the previous tick and this one: the attempts running then ran through it
    // (the one that caused it is told apart by its handler's synchronous run, in `warn`).
    const through = [...this.running, ...ended].filter((a) => (a.endedAt ?? now) >= previous);
    this.warn(blockedMs, through);
  }

  private warn(blockedMs: number, attempts: TrackedAttempt[]): void {
    const { lockDurationMs, logger } = this.options;
    // A handler whose own synchronous run was about as long as the block is the one that blocked it.
    const culprits = attempts.filter((a) => a.syncMs >= this.warnAfterMs);
    const named = culprits.length > 0 ? culprits : attempts;
    const list = named.map((a) => `${a.name} attempt ${a.attempt} (${a.jobId})`).join(', ');
    const who =
      culprits.length > 0
        ? `by ${list}, whose handler ran without yielding`
        : attempts.length > 0
          ? `while ${list} ran`
          : 'while no handler ran';
    logger.warn(
      {
        blockedMs,
        lockDurationMs,
        attempts: attempts.map((a) => ({ jobId: a.jobId, job: a.name, attempt: a.attempt })),
        ...(culprits.length > 0 ? { blockedBy: culprits.map((a) => ({ jobId: a.jobId, job: a.name, attempt: a.attempt, ranMs: Math.round(a.syncMs) })) } : {}),
      },
      `event loop blocked for ${blockedMs} ms ${who}: more than a quarter of the ${lockDurationMs} ms lock, ` +
        `during which BullMQ cannot renew this process's job locks; run CPU-bound handlers in a thread (defineJob's threadHandler)`,
    );
  }
}
