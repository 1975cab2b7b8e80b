/**
 * Memory mode (`npm run bench:memory`): does one jobledger worker's memory stay flat as it runs more
 * jobs? One worker child on a fresh SQLite ledger is fed no-op jobs in bulk while it runs (the backlog
 * in Redis kept under `maxBacklog`, so Redis and the harness stay small), and reports its RSS after a
 * forced full GC when its handler has been entered N/10 times and N times. Target: the second at most
 * 1.2 times the first.
 */
import { waitUntilDrained } from './backend-run.js';
import { WorkerChild, type CheckpointReport } from './child-handle.js';
import { sleep, throwIfInterrupted } from './interrupt.js';
import type { BenchOptions } from './options.js';
import { ledgerProducer, type BenchProducer } from './producers.js';
import { wallNow } from './protocol.js';
import { preparePlace } from './services.js';
import { perSecond } from './stats.js';

export interface MemoryReport {
  jobs: number;
  concurrency: number;
  checkpoints: { jobs: number; rssMiB: number; heapUsedMiB: number }[];
  /** RSS after all jobs / RSS after a tenth of them. */
  rssRatio: number;
  targetRatio: number;
  peakRssMiB: number;
  jobsPerS: number;
}

const maxBacklog = 10_000;
const mib = 1024 * 1024;
const targetRatio = 1.2;

export async function runMemory(options: BenchOptions): Promise<MemoryReport> {
  const total = options.jobs;
  const marks = [Math.max(1, Math.round(total / 10)), total];
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
    const [first, last] = marks.map((mark) => checkpoints.find((c) => c.handled === mark));
    if (!first || !last) throw new Error(`the worker did not report RSS at ${marks.join(' and ')} jobs`);
    return {
      jobs: total,
      concurrency: options.concurrency,
      checkpoints: [first, last].map((c) => ({ jobs: c.handled, rssMiB: round(c.rssBytes / mib), heapUsedMiB: round(c.heapUsedBytes / mib) })),
      rssRatio: round(last.rssBytes / first.rssBytes, 3),
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
  const rows = [
    ['figure', 'value'],
    [`worker RSS after ${first?.jobs ?? '?'} jobs (after a full GC)`, `${first?.rssMiB ?? '?'} MiB (heap used ${first?.heapUsedMiB ?? '?'} MiB)`],
    [`worker RSS after ${last?.jobs ?? '?'} jobs (after a full GC)`, `${last?.rssMiB ?? '?'} MiB (heap used ${last?.heapUsedMiB ?? '?'} MiB)`],
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
