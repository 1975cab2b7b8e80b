/**
 * Turns the runs into the report: the median of every figure per backend, each jobledger figure's
 * ratio to bare BullMQ's median in the same invocation (for end-to-end and bulk enqueue jobs/s, the
 * median of the round-by-round ratios instead: `BackendSummary.roundRatios`), an aligned table for
 * people and one JSON object for scripts.
 */
import { bulkWarmup, saturatedLagMs, type RunFigures } from './backend-run.js';
import type { BackendName, BenchOptions } from './options.js';
import { median } from './stats.js';

type FigureKey = keyof RunFigures;

interface FigureSpec {
  key: FigureKey;
  label: string;
  digits: number;
}

const figureSpecs: readonly FigureSpec[] = [
  { key: 'jobsPerS', label: 'end-to-end jobs/s', digits: 0 },
  { key: 'enqueuePerS', label: 'bulk enqueue jobs/s', digits: 0 },
  { key: 'enqueueSinglePerS', label: 'single enqueue jobs/s, 1 caller', digits: 0 },
  { key: 'enqueueSingleP50Ms', label: '  latency p50 ms', digits: 2 },
  { key: 'enqueueSingleP99Ms', label: '  latency p99 ms', digits: 2 },
  { key: 'enqueueSingle50PerS', label: 'single enqueue jobs/s, 50 callers', digits: 0 },
  { key: 'enqueueSingle50P50Ms', label: '  latency p50 ms', digits: 2 },
  { key: 'enqueueSingle50P99Ms', label: '  latency p99 ms', digits: 2 },
  { key: 'p50PickupMs', label: 'pickup latency p50 ms', digits: 2 },
  { key: 'p99PickupMs', label: 'pickup latency p99 ms', digits: 2 },
  { key: 'peakRssMiB', label: 'worker peak RSS MiB', digits: 1 },
  { key: 'ledgerBytesPerJob', label: 'ledger bytes/finished job', digits: 0 },
  { key: 'writesPerCommit', label: 'ledger writes per commit', digits: 1 },
  { key: 'cpuUsPerJob', label: 'CPU us/job, end-to-end', digits: 0 },
  { key: 'workerCpuUsPerJob', label: '  of it worker process', digits: 0 },
  { key: 'redisCpuUsPerJob', label: '  of it Redis', digits: 0 },
  { key: 'postgresCpuUsPerJob', label: '  of it PostgreSQL (local)', digits: 0 },
];

export type BackendSummary = Partial<Record<FigureKey, number>> & {
  /** Not bare BullMQ: end-to-end jobs/s as a fraction of bare BullMQ's. */
  ratio?: number;
  /** Not bare BullMQ: bulk enqueue jobs/s as a fraction of bare `addBulk`'s. */
  enqueueRatio?: number;
  /** Not bare BullMQ: every figure's ratio to bare BullMQ's. */
  ratios?: Partial<Record<FigureKey, number>>;
  /**
   * Not bare BullMQ: end-to-end and bulk enqueue jobs/s, round by round, as a fraction of bare
   * BullMQ's around the run: the mean of the bare run that opened the round and the one after it
   * (the next round's, or the closing run; only the opening one if there is none). The machine
   * drifts (bare BullMQ's rounds here ranged from 8,664 to 16,519 jobs/s in one afternoon), so a
   * bare figure from both sides of the run tracks it better than one from before, and these show
   * the spread that the ratio of two medians hides. Their medians are `ratio` and `enqueueRatio`.
   */
  roundRatios?: { jobsPerS: number[]; enqueuePerS: number[] };
  /**
   * jobledger on PostgreSQL only, when pg-boss ran too: end-to-end jobs/s as a fraction of
   * pg-boss's in the same round (`rounds`), and their median (`median`). Above 1 is above pg-boss.
   */
  pgbossRatios?: { rounds: number[]; median: number };
  /**
   * jobledger on PostgreSQL only, when pg-boss ran too: single enqueue jobs/s (1 caller, and 50
   * concurrent callers) as a fraction of pg-boss `send`'s, medians over medians. Above 1 is above pg-boss.
   */
  pgbossEnqueueRatios?: { enqueueSinglePerS?: number; enqueueSingle50PerS?: number };
  runs: RunFigures[];
};

export type Summary = Partial<Record<BackendName, BackendSummary>>;

export function summarise(results: ReadonlyMap<BackendName, RunFigures[]>): Summary {
  const summary: Summary = {};
  for (const [backend, runs] of results) {
    const s: BackendSummary = { runs };
    for (const { key } of figureSpecs) {
      const values = runs.map((r) => r[key]).filter((v): v is number => v !== undefined);
      if (values.length) s[key] = median(values);
    }
    summary[backend] = s;
  }
  const bare = summary.bare;
  if (!bare) return summary;
  for (const backend of ['sqlite', 'postgres', 'pgboss'] as const) {
    const s = summary[backend];
    if (!s) continue;
    s.ratios = {};
    for (const { key } of figureSpecs) {
      const mine = s[key];
      const theirs = bare[key];
      if (mine !== undefined && theirs !== undefined && theirs !== 0) s.ratios[key] = mine / theirs;
    }
    const rounds = Math.min(s.runs.length, bare.runs.length);
    const perRound = (key: 'jobsPerS' | 'enqueuePerS'): number[] =>
      Array.from({ length: rounds }, (_, i) => s.runs[i]![key] / bareAround(bare.runs, i, key));
    s.roundRatios = { jobsPerS: perRound('jobsPerS'), enqueuePerS: perRound('enqueuePerS') };
    // The headline ratios (and their cells in the table) are the median of the bracketed rounds.
    s.ratio = s.ratios.jobsPerS = median(s.roundRatios.jobsPerS);
    s.enqueueRatio = s.ratios.enqueuePerS = median(s.roundRatios.enqueuePerS);
  }
  const postgres = summary.postgres;
  const pgboss = summary.pgboss;
  if (postgres && pgboss) {
    const rounds = Math.min(postgres.runs.length, pgboss.runs.length);
    const perRound = Array.from({ length: rounds }, (_, i) => postgres.runs[i]!.jobsPerS / pgboss.runs[i]!.jobsPerS);
    postgres.pgbossRatios = { rounds: perRound, median: median(perRound) };
    postgres.pgbossEnqueueRatios = {};
    for (const key of ['enqueueSinglePerS', 'enqueueSingle50PerS'] as const) {
      const [mine, theirs] = [postgres[key], pgboss[key]];
      if (mine !== undefined && theirs) postgres.pgbossEnqueueRatios[key] = mine / theirs;
    }
  }
  return summary;
}

/** Bare BullMQ's figure around round `i`: the mean of its runs `i` and `i + 1`, or run `i` alone. */
function bareAround(bare: readonly RunFigures[], i: number, key: 'jobsPerS' | 'enqueuePerS'): number {
  const after = bare[i + 1];
  return after ? (bare[i]![key] + after[key]) / 2 : bare[i]![key];
}

/** The per-round ratios under the table, with their medians (`roundRatios`, `pgbossRatios`). */
export function formatRoundRatios(summary: Summary, backends: readonly BackendName[]): string {
  const lines: string[] = [];
  for (const [key, label] of [
    ['jobsPerS', 'end-to-end'],
    ['enqueuePerS', 'bulk enqueue'],
  ] as const) {
    const parts = backends.flatMap((b) => {
      const ratios = summary[b]?.roundRatios?.[key];
      return ratios?.length ? [`${b} ${ratios.map((r) => r.toFixed(3)).join(' ')} (median ${median(ratios).toFixed(3)})`] : [];
    });
    if (parts.length) lines.push(`${label} × bare BullMQ around it, round by round: ${parts.join('; ')}`);
  }
  const vsPgboss = summary.postgres?.pgbossRatios;
  if (vsPgboss?.rounds.length) {
    lines.push(
      `end-to-end, jobledger postgres × pg-boss in the same round: ${vsPgboss.rounds.map((r) => r.toFixed(3)).join(' ')} (median ${vsPgboss.median.toFixed(3)})`,
    );
  }
  const enqueueVsPgboss = summary.postgres?.pgbossEnqueueRatios;
  if (enqueueVsPgboss?.enqueueSinglePerS !== undefined || enqueueVsPgboss?.enqueueSingle50PerS !== undefined) {
    lines.push(
      `single enqueue, jobledger postgres × pg-boss send (medians): 1 caller ${formatRatio(enqueueVsPgboss.enqueueSinglePerS)}, ` +
        `50 callers ${formatRatio(enqueueVsPgboss.enqueueSingle50PerS)}`,
    );
  }
  return lines.join('\n');
}

const columnNames: Record<BackendName, string> = {
  bare: 'bare BullMQ',
  sqlite: 'jobledger sqlite',
  postgres: 'jobledger postgres',
  pgboss: 'pg-boss',
};

/** The aligned table: one row per figure, one column per backend, `× bare` after each other column. */
export function formatTable(summary: Summary, backends: readonly BackendName[]): string {
  const header = ['figure (median)'];
  for (const b of backends) {
    header.push(columnNames[b]);
    if (b !== 'bare' && summary.bare) header.push('× bare');
  }
  const rows = [header];
  for (const spec of figureSpecs) {
    const row = [spec.label];
    for (const b of backends) {
      row.push(formatNumber(summary[b]?.[spec.key], spec.digits));
      if (b !== 'bare' && summary.bare) row.push(formatRatio(summary[b]?.ratios?.[spec.key]));
    }
    if (row.slice(1).some((cell) => cell !== '–')) rows.push(row);
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '))
    .join('\n');
}

/** An end-to-end phase shorter than this is mostly the worker's start-up (connections, first fetch). */
const shortRunS = 3;

/** Warnings about figures that do not mean what they should (a run too short, latency under saturation). */
export function formatWarnings(summary: Summary, options: BenchOptions): string[] {
  const warnings: string[] = [];
  const bareJobsPerS = summary.bare?.jobsPerS;
  if (bareJobsPerS && options.jobs / bareJobsPerS < shortRunS) {
    warnings.push(
      `warning: bare BullMQ ran its ${options.jobs} jobs in ${(options.jobs / bareJobsPerS).toFixed(1)} s, so its figure is dominated by the ` +
        `worker's start-up and understates it (and overstates every ratio); use more --jobs for ratios.`,
    );
  }
  for (const [backend, s] of Object.entries(summary)) {
    const late = s.runs.filter((r) => r.latencyAddLagMs > saturatedLagMs);
    if (late.length === 0) continue;
    const worst = Math.max(...late.map((r) => r.latencyAddLagMs));
    warnings.push(
      `warning: ${backend}: in ${late.length} of ${s.runs.length} run(s) the producer could not add ${options.latencyRatePerS} jobs/s ` +
        `(last add up to ${worst.toFixed(0)} ms late), so its pickup latency includes producer queueing; try a lower --latency-rate.`,
    );
  }
  return warnings;
}

/** Says exactly what each figure times, with this invocation's settings. */
export function formatMethod(options: BenchOptions): string {
  const c = options.concurrency;
  return [
    `Method (each backend run on a fresh Redis prefix and a fresh database; ${options.runs} round(s), backends interleaved per round,`,
    `  bare BullMQ first and once more after the last round; medians):`,
    `- × bare: a figure's median over bare BullMQ's median; for end-to-end and bulk enqueue jobs/s, the median of the rounds' ratios,`,
    `  each run against the mean of the bare runs before and after it, so that the machine's drift weighs on both sides alike.`,
    `- bulk enqueue: ${options.jobs} no-op jobs in calls of ${options.bulkChunk} (addBulk / enqueueBulk), no worker running; the first ${bulkWarmup(options)}`,
    `  warm the producer up untimed, the other ${options.jobs - bulkWarmup(options)} are timed from the first call to the last return.`,
    `- end-to-end: one worker child process (node${options.nodeFlags.map((f) => ` ${f}`).join('')}), concurrency ${c}, starts on the ${options.jobs} waiting jobs; from just before it starts`,
    `  fetching (read in the child) until the queue holds no unfinished job (Redis polled every 5 ms). A jobledger job finishes in Redis only after`,
    `  its outcome is committed to the ledger.`,
    `- pickup latency: ${options.latencyJobs} jobs added one by one at ${options.latencyRatePerS}/s while the worker runs idle; from the enqueue`,
    `  call to the handler being entered (for jobledger: after the attempt's start is committed).`,
    `- worker peak RSS: the worker child's VmHWM over its whole life (open, all phases, close).`,
    `- single enqueue: ${options.singleJobs} jobs added one at a time, each awaited, no worker running; then ${options.singleJobs} by 50 concurrent`,
    `  callers, each awaiting its add before its next (add / enqueue / send). Latency: each call's, from its call to its return.`,
    `- CPU us/job: over the end-to-end phase, the worker child's own CPU (user + system, all threads, from start to its last`,
    `  end-to-end job), Redis's (INFO cpu) and, for PostgreSQL, every local postgres process's (/proc), each divided by the jobs.`,
    `- ledger bytes/finished job: SQLite page_count × page_size after a WAL checkpoint; PostgreSQL pg_total_relation_size of`,
    `  jobs, attempts, events, runs (dead row versions included); divided by the jobs completed in the ledger.`,
    `- bare BullMQ jobs carry the same BullMQ options as jobledger's (job_<ulid> id, attempts, backoff, removeOnComplete/Fail).`,
    ...(options.metrics
      ? [
          `- metrics + tracing: each jobledger backend also ran with its worker serving /metrics (scraped every second by the harness)`,
          `  and an OpenTelemetry SDK registered (BasicTracerProvider, ${
            options.metricsSpanProcessor === 'simple' ? 'SimpleSpanProcessor' : 'BatchSpanProcessor'
          }, in-memory exporter, ${
            options.metricsContextManager === 'als' ? 'AsyncLocalStorage context manager' : 'no context manager'
          }, ${options.metricsSampleRatio < 1 ? `${options.metricsSampleRatio} of traces sampled` : 'every trace sampled'});`,
          `  the main table holds only the runs with both off.`,
        ]
      : []),
    ...(options.backends.includes('pgboss')
      ? [
          `- pg-boss (on PostgreSQL, no Redis): enqueued with insert() (bulk) and send() (single); its worker child runs`,
          `  ${options.pgboss.workers} work() loop(s), each fetching up to ${options.pgboss.batchSize} jobs a poll into one handler call (no per-job concurrency;`,
          `  a loop polls at most every 0.5 s, so its ceiling is about loops × batch × 2 jobs/s, and its pickup latency is the poll's);`,
          `  end-to-end ends when its job table holds no unfinished job (a count scans that table, so it is polled every 5 ms only`,
          `  once the worker has entered every job's handler). Its CPU row has no Redis: pg-boss keeps its queue in PostgreSQL.`,
        ]
      : []),
  ].join('\n');
}

/** The JSON report: figures rounded for reading, the settings and the machine. */
export function jsonReport(summary: Summary, options: BenchOptions, machine: Record<string, unknown>, elapsedS: number): unknown {
  const rounded: Record<string, unknown> = {};
  for (const [backend, s] of Object.entries(summary)) {
    const { runs, ratios, roundRatios, pgbossRatios, pgbossEnqueueRatios, ...figures } = s;
    rounded[backend] = {
      ...roundAll(figures),
      ...(ratios ? { ratios: roundAll(ratios) } : {}),
      ...(roundRatios
        ? { roundRatios: { jobsPerS: roundRatios.jobsPerS.map(round), enqueuePerS: roundRatios.enqueuePerS.map(round) } }
        : {}),
      ...(pgbossRatios ? { pgbossRatio: round(pgbossRatios.median), pgbossRoundRatios: pgbossRatios.rounds.map(round) } : {}),
      ...(pgbossEnqueueRatios ? { pgbossEnqueueRatios: roundAll(pgbossEnqueueRatios) } : {}),
      runs: runs.map((r) => roundAll({ ...r })),
    };
  }
  return {
    ...rounded,
    settings: {
      jobs: options.jobs,
      concurrency: options.concurrency,
      runs: options.runs,
      backends: options.backends,
      bulkChunk: options.bulkChunk,
      singleJobs: options.singleJobs,
      latencyJobs: options.latencyJobs,
      latencyRatePerS: options.latencyRatePerS,
      nodeFlags: options.nodeFlags,
      ...(options.metrics ? { metrics: true } : {}),
      ...(options.backends.includes('pgboss') ? { pgboss: options.pgboss } : {}),
    },
    machine,
    elapsedS: Math.round(elapsedS),
  };
}

/** Four significant digits, seven from 1,000 up (whole jobs/s stay whole). */
function round(value: number): number {
  return Number(value.toPrecision(Math.abs(value) >= 1000 ? 7 : 4));
}

function roundAll(values: Record<string, number | undefined>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || !Number.isFinite(value)) continue;
    out[key] = round(value);
  }
  return out;
}

function formatNumber(value: number | undefined, digits: number): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatRatio(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  return value >= 10 ? value.toFixed(1) : value >= 1 ? value.toFixed(2) : value.toFixed(3);
}
