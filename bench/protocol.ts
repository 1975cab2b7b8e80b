/**
 * What the harness and a worker child say to each other over the IPC channel, and the clock both
 * use. Timestamps cross the process boundary, so both sides read the same wall clock at
 * sub-millisecond resolution (`performance.timeOrigin + performance.now()`), never `performance.now()`
 * alone, whose origin is per process.
 */

export type ChildMode = 'bare' | 'ledger' | 'pgboss';

/** Everything a worker child needs, passed as JSON in argv[2]. */
export interface ChildSettings {
  mode: ChildMode;
  redisUrl: string;
  redisPrefix: string;
  /** The ledger's DATABASE_URL (ledger mode), or pg-boss's database (pgboss mode). */
  databaseUrl?: string;
  /** BullMQ's worker concurrency (bare and ledger modes; pg-boss works in batches instead). */
  concurrency: number;
  /** pgboss mode: its work() loops and the jobs each fetches per poll (options.ts). */
  pgboss?: { workers: number; batchSize: number };
  /** Handler-call counts at which the child reports its RSS (memory mode), after a forced GC if available. */
  rssCheckpoints?: number[];
  /** Jobs in the end-to-end phase: a ledger child notes its group-commit counters when it has handled this many. */
  endToEndJobs?: number;
  /**
   * Ledger mode: metrics and tracing on. The child serves /metrics on a free port (reported in
   * `ready`) for the harness to scrape, and registers an OpenTelemetry SDK (a BasicTracerProvider
   * whose span processor sends spans to an in-memory exporter, and the AsyncLocalStorage context
   * manager), as an application would.
   */
  observe?: boolean;
  /**
   * `observe`: whether the SDK registers the AsyncLocalStorage context manager (`als`, as Node SDK
   * setups do) or none (`--metrics-context-manager none`). The SDK's own span export makes a context
   * active, and on Node 20 an active AsyncLocalStorage store costs every promise of the process from
   * then on; running without one separates jobledger's own cost from that.
   */
  contextManager?: 'als' | 'none';
  /**
   * `observe`: the SDK's span processor: `batch` (BatchSpanProcessor, default settings: spans are
   * exported 512 at a time or every 5 s), as production setups run, or `simple` (every span exported
   * as it ends, the SDK's processor for debugging).
   */
  spanProcessor?: 'batch' | 'simple';
  /** `observe`: the share of traces sampled (ParentBased over TraceIdRatioBased); 1 or absent: every one. */
  sampleRatio?: number;
  /**
   * Profile the end-to-end phase only (`--profile-end-to-end`): from `start` until the handler of
   * the last end-to-end job, through the inspector, into `dir` as `<label>-<pid>.cpuprofile`.
   */
  profileEndToEnd?: { dir: string; label: string; intervalUs: number };
}

export type ToChild = { type: 'start' } | { type: 'stop' };

export type FromChild =
  /** Connected and ready; the worker is not fetching yet. `metricsPort`: where /metrics is served (`observe`). */
  | { type: 'ready'; metricsPort?: number }
  /** `atMs` is read just before the worker starts fetching (its connections open inside start()). */
  | { type: 'started'; atMs: number }
  | { type: 'checkpoint'; handled: number; rssBytes: number; heapUsedBytes: number }
  /** The handler has been entered for every job of the end-to-end phase (`endToEndJobs`). */
  | { type: 'handledAll'; atMs: number }
  | {
      type: 'stopped';
      /** The kernel's high-water mark of the child's RSS (VmHWM), or the sampled maximum where there is none. */
      peakRssBytes: number;
      /** The largest RSS seen by sampling every 100 ms, as a cross-check. */
      sampledPeakRssBytes: number;
      /** enqueue call → handler entered, for every job that carried a `t` timestamp. */
      pickupMs: number[];
      /** Handler calls in this child. */
      handled: number;
      /** Ledger children: group-commit batches and writes at the end of the end-to-end phase. */
      groupCommit?: { batches: number; writes: number };
      /** CPU (user + system, all threads) of this process from `start` to the end-to-end phase's last handled job, in µs. */
      endToEndCpuMicros?: number;
      /** `observe`: spans the SDK ended and exported. */
      spans?: number;
    }
  | { type: 'error'; message: string };

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

/** The queue every bench job travels on (jobledger's default queue, and the same name for bare BullMQ). */
export const benchQueue = 'default';

/** The bench's no-op job type name, the same in bare BullMQ and in jobledger. */
export const benchJobName = 'bench.noop';

/** Reads the enqueue timestamp a latency-phase job carries, if any. */
export function enqueuedAt(data: unknown): number | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const t = (data as { t?: unknown }).t;
  return typeof t === 'number' ? t : undefined;
}
