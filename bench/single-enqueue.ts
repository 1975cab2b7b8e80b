/**
 * The single-enqueue phase: what a web server does, one job per request. `callers` concurrent
 * callers each add one job, await it, and add the next, until `jobs` jobs are added (a closed
 * loop: a caller never has two adds in flight). Timed from the first call to the last return; each
 * call's latency from its own call to its own return. With one caller that is one-at-a-time
 * enqueue; with 50, the concurrent requests jobledger commits together (jobs/enqueue-batcher.ts),
 * beside bare BullMQ's `Queue.add` and pg-boss's `send` with as many callers.
 */
import { throwIfInterrupted } from './interrupt.js';
import type { BenchProducer } from './producers.js';
import { wallNow } from './protocol.js';
import { percentile, perSecond } from './stats.js';

/** The concurrent callers of the phase's second part (the first has one). */
export const concurrentCallers = 50;

export interface SingleEnqueueFigures {
  perS: number;
  p50Ms: number;
  p99Ms: number;
}

export async function measureSingleEnqueue(producer: BenchProducer, jobs: number, callers: number): Promise<SingleEnqueueFigures> {
  const latencies: number[] = [];
  let started = 0;
  const caller = async (): Promise<void> => {
    while (started < jobs) {
      throwIfInterrupted();
      started++;
      const began = wallNow();
      await producer.addOne();
      latencies.push(wallNow() - began);
    }
  };
  const begin = wallNow();
  await Promise.all(Array.from({ length: Math.min(callers, jobs) }, caller));
  const perS = perSecond(jobs, wallNow() - begin);
  latencies.sort((a, b) => a - b);
  return { perS, p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99) };
}

/** One caller, then `concurrentCallers`, `jobs` jobs each: the figures `RunFigures` carries (backend-run.ts). */
export async function singleEnqueuePhase(
  producer: BenchProducer,
  jobs: number,
  log: (message: string) => void,
): Promise<{ one: SingleEnqueueFigures; many: SingleEnqueueFigures }> {
  const one = await measureSingleEnqueue(producer, jobs, 1);
  log(`single enqueue of ${jobs} jobs, 1 caller: ${describe(one)}`);
  const many = await measureSingleEnqueue(producer, jobs, concurrentCallers);
  log(`single enqueue of ${jobs} jobs, ${concurrentCallers} concurrent callers: ${describe(many)}`);
  return { one, many };
}

function describe(figures: SingleEnqueueFigures): string {
  return `${Math.round(figures.perS).toLocaleString('en-US')} jobs/s, latency p50 ${figures.p50Ms.toFixed(2)} ms, p99 ${figures.p99Ms.toFixed(2)} ms`;
}
