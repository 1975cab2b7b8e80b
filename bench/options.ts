/**
 * The benchmark's command line and where it finds its services. Redis and PostgreSQL come from
 * `REDIS_URL` and `BENCH_POSTGRES_URL` first, then the local default ports. (The bench is not part of
 * the library, so it reads its own environment; the library's configuration is still built only by
 * `loadConfig` from src/config.ts, with these URLs as overrides.)
 */
import { parseArgs } from 'node:util';

/**
 * `pgboss` is pg-boss on PostgreSQL, the reference the throughput target names ("above pg-boss's
 * figure on the same host"), measured in the same run rather than quoted.
 */
export const backendNames = ['bare', 'sqlite', 'postgres', 'pgboss'] as const;
export type BackendName = (typeof backendNames)[number];

/** Whether a backend's run needs a PostgreSQL database (a fresh one per run, and its CPU measured). */
export function usesPostgres(backend: BackendName): boolean {
  return backend === 'postgres' || backend === 'pgboss';
}

export interface BenchOptions {
  /** No-op jobs per end-to-end run (memory mode: the final job count). Default 20000 (memory: 200000). */
  jobs: number;
  /** Worker concurrency, the same for every backend. Default 50. */
  concurrency: number;
  /** Backends to measure, in this order within each round (bare BullMQ first). Default all four. */
  backends: BackendName[];
  /** Rounds; every figure is reported as the median over them. Default 3. */
  runs: number;
  /**
   * pg-boss's worker: `workers` loops (`work()` calls), each fetching up to `batchSize` jobs per
   * poll and handing them to one handler call. A loop polls at most every 0.5 s (pg-boss's floor)
   * while it finds jobs, so its ceiling is about workers × batchSize × 2 jobs/s. Default 3 × 700:
   * the best of the configurations with batches of up to 1,000 tried on a 2-core host
   * (docs/performance-history.md).
   */
  pgboss: { workers: number; batchSize: number };
  /** Print one JSON object as the last line of stdout. */
  json: boolean;
  /** Memory mode: RSS of one SQLite jobledger worker after jobs/10 and after `jobs` jobs. */
  memory: boolean;
  /**
   * Observability overhead: every jobledger backend runs twice per round, with metrics and tracing
   * off and on (its /metrics scraped every second, an OpenTelemetry SDK with an in-memory exporter
   * in the worker), and the report gives the on/off ratio of end-to-end jobs/s.
   */
  metrics: boolean;
  /**
   * `--metrics`: the observed worker's OpenTelemetry context manager, `als` (AsyncLocalStorage, the
   * default, as Node SDK setups register) or `none`, which leaves jobledger's own cost alone.
   */
  metricsContextManager: 'als' | 'none';
  /**
   * `--metrics`: the observed worker's span processor, `batch` (BatchSpanProcessor with its default
   * settings, the default: what the OpenTelemetry SDK recommends for production) or `simple`
   * (SimpleSpanProcessor, every span exported as it ends: the SDK's debugging processor).
   */
  metricsSpanProcessor: 'batch' | 'simple';
  /**
   * `--metrics`: the share of traces the observed worker's SDK samples (`ParentBasedSampler` over a
   * `TraceIdRatioBasedSampler`, as high-throughput setups run), 1 (the default: every span
   * recorded and exported) down to 0. Unsampled spans are non-recording: no attributes, no export.
   */
  metricsSampleRatio: number;
  /**
   * Search mode: the full-text search indexer's cost over N jobs on each ledger backend given
   * (search-index.ts), instead of the end-to-end runs.
   */
  search: boolean;
  /** Jobs per `addBulk` / `enqueueBulk` call in the bulk enqueue phase. Default 1000. */
  bulkChunk: number;
  /** Jobs added one by one, each awaited, in the single-enqueue phase. Default jobs/10, 100..10000: enough batches at 50 callers for a steady figure. */
  singleJobs: number;
  /** Jobs added one by one at `latencyRatePerS` in the pickup-latency phase. Default jobs/40, 100..500. */
  latencyJobs: number;
  /**
   * Rate of the pickup-latency phase, meant to be well under every backend's capacity so that the
   * latency is the path's, not queueing. Default 50 jobs/s: one-at-a-time enqueue through the
   * unoptimised ledger managed only ~150-180/s here, and 200/s measured producer queueing instead.
   */
  latencyRatePerS: number;
  /** When set, each worker child runs under `node --cpu-prof` and writes its profile here. */
  profileDir: string | undefined;
  /**
   * With `profileDir`: profile only the end-to-end phase (from `start` to the last job's handler),
   * the window the CPU per job is measured over, sampling every 250 µs. Default false: the whole life.
   */
  profileEndToEnd: boolean;
  /**
   * Extra Node.js/V8 flags for every worker child, bare BullMQ's and jobledger's alike (so a flag
   * that helps one helps the other too). Default none: the figures are plain `node`'s.
   */
  nodeFlags: string[];
  redisUrl: string;
  /** A PostgreSQL database to connect to for CREATE/DROP DATABASE (one fresh database per run). */
  postgresAdminUrl: string;
}

const usage = `usage: npm run bench -- [--jobs N] [--concurrency C] [--backends bare,sqlite,postgres,pgboss] [--runs R] [--json] [--metrics]
       npm run bench:memory -- [--jobs N]
  --jobs N             no-op jobs per end-to-end run (default 20000; memory mode: 200000)
  --concurrency C      worker concurrency (default 50)
  --backends LIST      any of bare, sqlite, postgres, pgboss (default all)
  --runs R             rounds; medians are reported (default 3)
  --json               one JSON object as the last line of stdout
  --memory             memory mode: worker RSS after N/10 and after N jobs (SQLite ledger)
  --metrics            also run each jobledger backend with metrics (scraped every second) and
                       tracing (OpenTelemetry SDK, in-memory exporter) on; report on/off ratios
  --metrics-context-manager M
                       the observed worker's OpenTelemetry context manager: als (default) or none
  --metrics-span-processor P
                       the observed worker's span processor: batch (default) or simple
  --metrics-sample-ratio R
                       the share of traces the observed worker's SDK samples, 0..1 (default 1)
  --search             search mode: the full-text search indexer's documents/s and CPU per job over
                       N jobs (a tenth of them failed) on the sqlite and postgres backends given
  --bulk-chunk N       jobs per addBulk/enqueueBulk call (default 1000)
  --single-jobs N      jobs in the one-by-one enqueue phase (default N/10, within 100..10000)
  --latency-jobs N     jobs in the pickup-latency phase (default N/40, within 100..500)
  --latency-rate R     jobs/s in the pickup-latency phase (default 50)
  --pgboss-workers N   pg-boss work() loops (default 3)
  --pgboss-batch N     jobs per pg-boss fetch and handler call (default 700)
  --profile-dir DIR    run each worker child under node --cpu-prof, profiles in DIR
  --profile-end-to-end with --profile-dir: profile only each child's end-to-end phase (the window
                       of its CPU per job), main thread, every 250 µs, as DIR/<backend>-<pid>.cpuprofile
  --node-flags=FLAGS   Node.js/V8 flags for every worker child, bare and jobledger alike, given
                       with "=" since they start with dashes (--node-flags=--single-threaded-gc)
env: REDIS_URL (default redis://127.0.0.1:6379), BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)`;

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      jobs: { type: 'string' },
      concurrency: { type: 'string' },
      backends: { type: 'string' },
      runs: { type: 'string' },
      json: { type: 'boolean', default: false },
      memory: { type: 'boolean', default: false },
      metrics: { type: 'boolean', default: false },
      'metrics-context-manager': { type: 'string' },
      'metrics-span-processor': { type: 'string' },
      'metrics-sample-ratio': { type: 'string' },
      search: { type: 'boolean', default: false },
      'bulk-chunk': { type: 'string' },
      'single-jobs': { type: 'string' },
      'latency-jobs': { type: 'string' },
      'latency-rate': { type: 'string' },
      'pgboss-workers': { type: 'string' },
      'pgboss-batch': { type: 'string' },
      'profile-dir': { type: 'string' },
      'profile-end-to-end': { type: 'boolean', default: false },
      'node-flags': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  if (values['profile-end-to-end'] && !values['profile-dir']) fail('--profile-end-to-end: expected --profile-dir DIR too');
  const memory = values.memory ?? false;
  const jobs = int('--jobs', values.jobs, memory ? 200_000 : 20_000, 10);
  const backends = (values.backends ?? backendNames.join(',')).split(',').map((b) => b.trim()).filter(Boolean);
  for (const b of backends) {
    if (!(backendNames as readonly string[]).includes(b)) fail(`--backends: expected any of ${backendNames.join(', ')}, got ${JSON.stringify(b)}`);
  }
  if (backends.length === 0) fail('--backends: expected at least one backend');
  return {
    jobs,
    concurrency: int('--concurrency', values.concurrency, 50, 1),
    backends: [...new Set(backends)] as BackendName[],
    runs: int('--runs', values.runs, 3, 1),
    pgboss: {
      workers: int('--pgboss-workers', values['pgboss-workers'], 3, 1),
      batchSize: int('--pgboss-batch', values['pgboss-batch'], 700, 1),
    },
    json: values.json ?? false,
    memory,
    metrics: values.metrics ?? false,
    metricsContextManager: contextManager(values['metrics-context-manager']),
    metricsSpanProcessor: spanProcessor(values['metrics-span-processor']),
    metricsSampleRatio: sampleRatio(values['metrics-sample-ratio']),
    search: values.search ?? false,
    bulkChunk: int('--bulk-chunk', values['bulk-chunk'], 1000, 1),
    singleJobs: int('--single-jobs', values['single-jobs'], clamp(Math.round(jobs / 10), 100, 10_000), 1),
    latencyJobs: int('--latency-jobs', values['latency-jobs'], clamp(Math.round(jobs / 40), 100, 500), 1),
    latencyRatePerS: int('--latency-rate', values['latency-rate'], 50, 1),
    profileDir: values['profile-dir'],
    profileEndToEnd: values['profile-end-to-end'] ?? false,
    nodeFlags: flagList(values['node-flags']),
    redisUrl: nonEmpty(env.REDIS_URL) ?? 'redis://127.0.0.1:6379',
    postgresAdminUrl: nonEmpty(env.BENCH_POSTGRES_URL) ?? 'postgres://postgres@127.0.0.1:5432/postgres',
  };
}

function contextManager(raw: string | undefined): 'als' | 'none' {
  if (raw === undefined || raw === 'als' || raw === 'none') return raw ?? 'als';
  fail(`--metrics-context-manager: expected als or none, got ${JSON.stringify(raw)}`);
}

function spanProcessor(raw: string | undefined): 'batch' | 'simple' {
  if (raw === undefined || raw === 'batch' || raw === 'simple') return raw ?? 'batch';
  fail(`--metrics-span-processor: expected batch or simple, got ${JSON.stringify(raw)}`);
}

function sampleRatio(raw: string | undefined): number {
  if (raw === undefined) return 1;
  const value = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(value) && value >= 0 && value <= 1) return value;
  fail(`--metrics-sample-ratio: expected a number from 0 to 1, got ${JSON.stringify(raw)}`);
}

function int(flag: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(value) || value < min) fail(`${flag}: expected a whole number >= ${min}, got ${JSON.stringify(raw)}`);
  return value;
}

/** Whitespace-separated flags, each of the `--name` or `--name=value` form. */
function flagList(raw: string | undefined): string[] {
  const flags = (raw ?? '').split(/\s+/).filter(Boolean);
  for (const flag of flags) {
    if (!/^--[a-z0-9][a-z0-9_-]*(=\S+)?$/i.test(flag)) fail(`--node-flags: expected flags like --single-threaded-gc, got ${JSON.stringify(flag)}`);
  }
  return flags;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n${usage}\n`);
  process.exit(2);
}
