/**
 * Memory mode (`npm run bench:memory`): does one jobledger worker's memory stay flat as it runs more
 * jobs? One worker child on a fresh SQLite ledger is fed no-op jobs in bulk while it runs (the backlog
 * in Redis kept under `maxBacklog`, so Redis and the harness stay small), and reports its RSS, after a
 * forced full GC, as its handler is entered N/10 times and N times. Target: the second at most 1.2
 * times the first.
 *
 * Each of the two figures is the median of `readingsPerFigure` readings taken every N/200 jobs up to
 * its mark (N = 200,000: at 16,000, 17,000 ... 20,000 and at 196,000 ... 200,000). One reading alone
 * moved by ±10% from one thousand jobs to the next while the JavaScript heap's use stayed within
 * 1 MiB: V8's committed old space (36-51 MiB for 29 used) and the allocator's free pages come and
 * go. A ratio of two single readings failed the target by chance in three runs of four on 2026-12-04
 * (1.211, 1.252, 1.216, then 1.111) with no growth in it: readings at nine points of one run went
 * 171, 182, 174, 169, 172, 172, 197, 173 and 204 MiB. Readings close together fall over the first
 * two or three (each forced GC lets V8 give back more of its free pages, e.g. 202, 182, 161, 160,
 * 161 MiB), so the median is memory that is kept, at both marks alike.
 */
import { waitUntilDrained } from './backend-run.js';
import { WorkerChild, type CheckpointReport } from './child-handle.js';
import { sleep, throwIfInterrupted } from './interrupt.js';
import type { BenchOptions } from './options.js';
import { ledgerProducer, type BenchProducer } from './producers.js';
import { wallNow } from './protocol.js';
import { preparePlace } from './services.js';
import { median, perSecond } from './stats.js';

export interface MemoryFigure {
  /** The mark: the figure is taken after this many jobs. */
  jobs: number;
  /** The median of the readings. */
  rssMiB: number;
  heapUsedMiB: number;
  /** Every reading up to the mark, oldest first. */
  readings: { jobs: number; rssMiB: number; heapUsedMiB: number }[];
}

export interface MemoryReport {
  jobs: number;
  concurrency: number;
  checkpoints: MemoryFigure[];
  /** RSS after all jobs / RSS after a tenth of them (each the median of its readings). */
  rssRatio: number;
  targetRatio: number;
  peakRssMiB: number;
  jobsPerS: number;
}

const maxBacklog = 10_000;
const mib = 1024 * 1024;
const targetRatio = 1.2;
const readingsPerFigure = 5;

/** For each mark (a tenth of the jobs, all of them), the job counts at which RSS is read. */
export function readingPoints(total: number): { mark: number; points: number[] }[] {
  const step = Math.max(1, Math.floor(total / 200));
  return [Math.max(1, Math.round(total / 10)), total].map((mark) => ({
    mark,
    points: Array.from({ length: readingsPerFigure }, (_, i) => mark - (readingsPerFigure - 1 - i) * step).filter((n) => n >= 1),
  }));
}

export async function runMemory(options: BenchOptions): Promise<MemoryReport> {
  const total = options.jobs;
  const figures = readingPoints(total);
  const marks = [...new Set(figures.flatMap((f) => f.points))];
  const log = (message: string): void => void process.stderr.write(`memory: ${message}\n`);
  const place = await preparePlace('sqlite', options.redisUrl, options.postgresAdminUrl);
  const checkpoints: CheckpointReport[] = [];
  let producer: BenchProducer | undefined;
  let child: WorkerChild | undefined;
  try {
    producer = await ledgerProducer(options.redisUrl, place);
    child = await WorkerChild.spawn(
      {
        mode: 'ledger',
        redisUrl: options.redisUrl,
        redisPrefix: place.redisPrefix,
        ...(place.databaseUrl ? { databaseUrl: place.databaseUrl } : {}),
        concurrency: options.concurrency,
        rssCheckpoints: marks,
      },
      {
        exposeGc: true,
        profileDir: options.profileDir,
        nodeFlags: options.nodeFlags,
        onCheckpoint: (report) => {
          checkpoints.push(report);
          log(`after ${report.handled} jobs: RSS ${(report.rssBytes / mib).toFixed(1)} MiB, heap used ${(report.heapUsedBytes / mib).toFixed(1)} MiB`);
        },
      },
    );
    const startedAt = await child.start();
    await feed(producer, total, options.bulkChunk, log);
    const drainedAt = await waitUntilDrained(producer, total, log);
    const stopped = await child.stop();
    child = undefined;
    const completed = await producer.ledgerCompleted?.();
    if (completed !== total) throw new Error(`Redis finished ${total} jobs but the ledger has ${completed ?? 'no'} completed`);
    const [first, last] = figures.map((f) => memoryFigure(f.mark, f.points, checkpoints));
    return {
      jobs: total,
      concurrency: options.concurrency,
      checkpoints: [first!, last!],
      rssRatio: round(last!.rssMiB / first!.rssMiB, 3),
      targetRatio,
      peakRssMiB: round(stopped.peakRssBytes / mib),
      jobsPerS: round(perSecond(total, drainedAt - startedAt)),
    };
  } finally {
    child?.kill();
    await producer?.close().catch((error: unknown) => log(`closing the producer failed: ${String(error)}`));
    await place.dispose();
  }
}

/** The median of the readings at `points`; fails if the worker did not report one of them. */
export function memoryFigure(mark: number, points: readonly number[], reported: readonly CheckpointReport[]): MemoryFigure {
  const readings = points.map((n) => {
    const c = reported.find((r) => r.handled === n);
    if (!c) throw new Error(`the worker did not report RSS after ${n} jobs`);
    return { jobs: n, rssMiB: round(c.rssBytes / mib), heapUsedMiB: round(c.heapUsedBytes / mib) };
  });
  return {
    jobs: mark,
    rssMiB: round(median(readings.map((r) => r.rssMiB))),
    heapUsedMiB: round(median(readings.map((r) => r.heapUsedMiB))),
    readings,
  };
}

/** Enqueues `total` jobs in bulk calls, never letting more than `maxBacklog` wait in Redis. */
async function feed(producer: BenchProducer, total: number, chunk: number, log: (message: string) => void): Promise<void> {
  let enqueued = 0;
  let lastLogAt = wallNow();
  while (enqueued < total) {
    throwIfInterrupted();
    const { unfinished } = await producer.queueCounts();
    if (unfinished + chunk > maxBacklog) {
      await sleep(20);
      continue;
    }
    const size = Math.min(chunk, total - enqueued);
    await producer.addBulk(size, chunk);
    enqueued += size;
    if (wallNow() - lastLogAt > 10_000) {
      lastLogAt = wallNow();
      log(`  ${enqueued - unfinished}/${total} finished`);
    }
  }
}

export function formatMemory(report: MemoryReport): string {
  const [first, last] = report.checkpoints;
  const figure = (f: MemoryFigure | undefined): string[] => [
    `worker RSS after ${f?.jobs ?? '?'} jobs (median of ${f?.readings.length ?? '?'} readings, each after a full GC)`,
    `${f?.rssMiB ?? '?'} MiB (heap used ${f?.heapUsedMiB ?? '?'} MiB; readings ${f?.readings.map((r) => r.rssMiB).join(', ') ?? '?'} MiB ` +
      `after ${f?.readings.map((r) => r.jobs).join(', ') ?? '?'} jobs)`,
  ];
  const rows = [
    ['figure', 'value'],
    figure(first),
    figure(last),
    ['ratio', `${report.rssRatio} (target ≤ ${report.targetRatio}: ${report.rssRatio <= report.targetRatio ? 'met' : 'NOT met'})`],
    ['worker peak RSS (VmHWM)', `${report.peakRssMiB} MiB`],
    ['throughput while measuring', `${report.jobsPerS} jobs/s (concurrency ${report.concurrency}, SQLite ledger)`],
  ];
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `${a!.padEnd(width)}  ${b}`).join('\n');
}

function round(value: number, digits = 1): number {
  return Number(value.toFixed(digits));
}
