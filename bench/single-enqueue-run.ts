/**
 * `npm run bench:enqueue`: only the single-enqueue phase of `npm run bench` (single-enqueue.ts), for
 * each backend of --backends, --runs rounds, without a worker: seconds instead of minutes. Takes the
 * bench's options (--backends, --runs, --single-jobs, --json; the others are ignored). Prints the
 * medians and each jobledger figure's ratio to bare BullMQ's; with --json, one JSON object last.
 */
import { parseOptions, type BackendName } from './options.js';
import { bareProducer, ledgerProducer, pgbossProducer, type BenchProducer } from './producers.js';
import { preparePlace, runPendingCleanups } from './services.js';
import { concurrentCallers, singleEnqueuePhase, type SingleEnqueueFigures } from './single-enqueue.js';
import { median } from './stats.js';

type Figures = { one: SingleEnqueueFigures; many: SingleEnqueueFigures };

async function runOnce(backend: BackendName, jobs: number, redisUrl: string, postgresAdminUrl: string, label: string): Promise<Figures> {
  const log = (message: string): void => void process.stderr.write(`${label} ${backend}: ${message}\n`);
  const place = await preparePlace(backend, redisUrl, postgresAdminUrl);
  let producer: BenchProducer | undefined;
  try {
    producer =
      backend === 'bare' ? bareProducer(redisUrl, place) : backend === 'pgboss' ? await pgbossProducer(place) : await ledgerProducer(redisUrl, place);
    // Untimed warm-up: connections, prepared statements, the JIT.
    await singleEnqueuePhase(producer, Math.min(200, jobs), () => undefined);
    return await singleEnqueuePhase(producer, jobs, log);
  } finally {
    await producer?.close().catch(() => undefined);
    await place.dispose();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const results = new Map<BackendName, Figures[]>(options.backends.map((b) => [b, []]));
  for (let round = 1; round <= options.runs; round++) {
    for (const backend of options.backends) {
      results.get(backend)!.push(await runOnce(backend, options.singleJobs, options.redisUrl, options.postgresAdminUrl, `[round ${round}/${options.runs}]`));
    }
  }
  const summary: Record<string, Record<string, number>> = {};
  for (const [backend, runs] of results) {
    const pick = (f: (r: Figures) => number): number => median(runs.map(f));
    summary[backend] = {
      enqueueSinglePerS: pick((r) => r.one.perS),
      enqueueSingleP50Ms: pick((r) => r.one.p50Ms),
      enqueueSingleP99Ms: pick((r) => r.one.p99Ms),
      enqueueSingle50PerS: pick((r) => r.many.perS),
      enqueueSingle50P50Ms: pick((r) => r.many.p50Ms),
      enqueueSingle50P99Ms: pick((r) => r.many.p99Ms),
    };
  }
  const out = process.stdout;
  out.write(`\nsingle enqueue, ${options.singleJobs} jobs per part, ${options.runs} round(s), medians (1 caller | ${concurrentCallers} callers):\n`);
  for (const [backend, s] of Object.entries(summary)) {
    const vs = (key: string, other: string | undefined): string => {
      const theirs = other ? summary[other]?.[key] : undefined;
      return theirs ? ` (× ${other} ${(s[key]! / theirs).toFixed(2)})` : '';
    };
    const reference = backend === 'bare' ? undefined : 'bare';
    out.write(
      `  ${backend.padEnd(9)} ${Math.round(s.enqueueSinglePerS!)} jobs/s${vs('enqueueSinglePerS', reference)}, p50 ${s.enqueueSingleP50Ms!.toFixed(2)} ms, p99 ${s.enqueueSingleP99Ms!.toFixed(2)} ms` +
        ` | ${Math.round(s.enqueueSingle50PerS!)} jobs/s${vs('enqueueSingle50PerS', reference)}` +
        `${backend === 'postgres' ? vs('enqueueSingle50PerS', 'pgboss') : ''}, p50 ${s.enqueueSingle50P50Ms!.toFixed(2)} ms, p99 ${s.enqueueSingle50P99Ms!.toFixed(2)} ms\n`,
    );
  }
  if (options.json) out.write(`${JSON.stringify({ singleEnqueue: summary, settings: { singleJobs: options.singleJobs, runs: options.runs, callers: [1, concurrentCallers] } })}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:enqueue: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await runPendingCleanups();
  process.exit(1);
});
