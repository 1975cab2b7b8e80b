/**
 * OpenTelemetry traces across processes: this process (the producer) registers an in-memory SDK and
 * enqueues inside a span of its own; a worker in a child process registers another and writes its
 * spans to a file as it exits. The attempt spans, including both attempts of a job that fails once,
 * continue the producer's trace as children of its enqueue span; each outcome's ledger commit is a
 * span linked to its attempt. Without an SDK nothing is stored with the job.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Telemetry } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { openSharedJobLedger, startChildWorker } from './support/child-worker.js';
import { registerInMemoryTracing, type SpanRecord } from './support/fixtures/in-memory-tracing.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { runDirectory } from './support/test-run.js';
import { activeTracer } from '../src/tracing.js';

function only<T>(items: T[], what: string): T {
  expect(items, what).toHaveLength(1);
  return items[0]!;
}

describe.each(backends)('traces on %s', (dialect) => {
  it('stores no trace context and makes no span while no SDK is registered', async () => {
    const { jl } = await openSharedJobLedger(dialect);
    const job = await jl.enqueue('test.scripted', { action: 'succeed' });
    expect((await jl.ledger.getJob(job.id)).traceContext).toBeNull();
    // A span started inside a no-op tracer carries no context a job could continue.
    await trace.getTracer('app').startActiveSpan('request', async (span) => {
      const inside = await jl.enqueue('test.scripted', { action: 'succeed' });
      expect((await jl.ledger.getJob(inside.id)).traceContext).toBeNull();
      span.end();
    });
    await jl.close();
  });

  it("continues the producer's trace in a worker process: each attempt, across a retry, is a child of the enqueue span", async () => {
    const tracing = registerInMemoryTracing();
    try {
      const { config, jl } = await openSharedJobLedger(dialect);
      const spansFile = join(runDirectory(), `worker-spans-${dialect}-${process.pid}.json`);
      const child = await startChildWorker(config, { TEST_SPANS_FILE: spansFile });
      const [once, retried] = await trace.getTracer('app').startActiveSpan('request', async (span) => {
        try {
          return [
            await jl.enqueue('test.scripted', { action: 'succeed' }),
            await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 2 }),
          ];
        } finally {
          span.end();
        }
      });
      await waitForStatus(jl, once!.id, 'completed');
      await waitForStatus(jl, retried!.id, 'completed');
      child.kill('SIGTERM');
      expect((await child.exited).code).toBe(0);
      const workerSpans = JSON.parse(readFileSync(spansFile, 'utf8')) as SpanRecord[];
      const producerSpans = tracing.finished();

      const request = only(producerSpans.filter((s) => s.name === 'request'), 'the request span');
      for (const job of [once!, retried!]) {
        const enqueue = only(
          producerSpans.filter((s) => s.name === 'jobledger.enqueue' && s.attributes['jobledger.job.id'] === job.id),
          `the enqueue span of ${job.id}`,
        );
        expect(enqueue).toMatchObject({ kind: SpanKind.PRODUCER, traceId: request.traceId, parentSpanId: request.spanId });
        expect(enqueue.attributes).toMatchObject({ 'jobledger.job.type': 'test.scripted', 'jobledger.queue': expect.any(String) as unknown, 'jobledger.job.count': 1 });
        // The ledger holds the enqueue span's context: the W3C traceparent, sampled.
        const stored = JSON.parse((await jl.ledger.getJob(job.id)).traceContext!) as { traceparent: string };
        expect(stored.traceparent).toBe(`00-${enqueue.traceId}-${enqueue.spanId}-01`);

        const attempts = workerSpans.filter((s) => s.name === 'jobledger.attempt' && s.attributes['jobledger.job.id'] === job.id);
        expect(attempts.map((a) => a.attributes['jobledger.attempt'])).toEqual(job === once ? [1] : [1, 2]);
        for (const attempt of attempts) {
          expect(attempt).toMatchObject({ kind: SpanKind.CONSUMER, traceId: request.traceId, parentSpanId: enqueue.spanId });
          expect(attempt.attributes).toMatchObject({ 'jobledger.job.type': 'test.scripted', 'jobledger.queue': enqueue.attributes['jobledger.queue'] });
          // The outcome's commit is a span of its own trace, linked to the attempt.
          const commits = workerSpans.filter((s) => s.name === 'jobledger.ledger.commit' && s.links.some((l) => l.spanId === attempt.spanId));
          expect(commits.length, `commit spans linked to attempt ${String(attempt.attributes['jobledger.attempt'])}`).toBeGreaterThanOrEqual(1);
          for (const commit of commits) {
            expect(commit.parentSpanId).toBeNull();
            expect(commit.attributes['jobledger.batch.size']).toBeGreaterThanOrEqual(1);
          }
        }
        if (job === retried) {
          const [first, second] = attempts;
          expect(first!.attributes['jobledger.outcome']).toBe('retry_scheduled');
          expect(first!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'not yet (attempt 1)' });
          expect(first!.exceptions).toEqual(['not yet (attempt 1)']);
          expect(second!.attributes['jobledger.outcome']).toBe('completed');
          expect(second!.status.code).toBe(SpanStatusCode.UNSET);
        } else {
          expect(attempts[0]!.attributes['jobledger.outcome']).toBe('completed');
        }
      }
      await jl.close();
    } finally {
      await tracing.stop();
    }
  });
});

describe('BullMQ telemetry', () => {
  it('passes the telemetry option to the BullMQ queues and workers jobledger creates', async () => {
    const started: string[] = [];
    const span = { setSpanOnContext: (c: unknown) => c, setAttribute() {}, setAttributes() {}, addEvent() {}, recordException() {}, end() {} };
    const telemetry: Telemetry = {
      tracer: {
        startSpan: (name) => {
          started.push(name);
          return span;
        },
      },
      contextManager: { with: (_context, fn) => fn() as ReturnType<typeof fn>, active: () => ({}), getMetadata: () => '', fromMetadata: (active: unknown) => active },
    };
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob], telemetry });
    const worker = jl.createWorker({ concurrency: 1 });
    await worker.start();
    const job = await jl.enqueue('test.scripted', { action: 'succeed' });
    await waitForStatus(jl, job.id, 'completed');
    const queue = jl.registry.get('test.scripted').queue;
    // BullMQ names its spans after the operation and the queue: the Queue's add, the Worker's completion.
    expect(started).toEqual(expect.arrayContaining([`add ${queue}.test.scripted`, `complete ${queue}`]));
    await jl.close();
  });
});

describe('the tracer the worker asks for once per attempt and write', () => {
  it('follows the SDK as it is registered, removed and registered again', async () => {
    expect(activeTracer()).toBeUndefined();
    const first = registerInMemoryTracing();
    try {
      activeTracer()!.startSpan('first').end();
      expect(first.finished().map((s) => s.name)).toEqual(['first']);
    } finally {
      await first.stop();
    }
    expect(activeTracer()).toBeUndefined();
    // A tracer kept from the first SDK would send this span to the first exporter, shut down.
    const second = registerInMemoryTracing();
    try {
      activeTracer()!.startSpan('second').end();
      expect(second.finished().map((s) => s.name)).toEqual(['second']);
    } finally {
      await second.stop();
    }
  });
});
