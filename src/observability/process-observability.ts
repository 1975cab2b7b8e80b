/**
 * What one process exposes to an operator's tools: its metrics in the Prometheus text format, its
 * readiness, the HTTP servers that serve both, and its subscriptions to the ledger's event log
 * (docs/observability.md). `JobLedger` owns one and
 * hands it what its workers record, its maintenance ticks and the disagreements reconcile finds.
 */
import type { Config } from '../config.js';
import { InvalidOptionError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../transport/redis-connection.js';
import type { Ledger } from '../store/index.js';
import type { TieredStateStore } from '../hot-state/tiered-state-store.js';
import { AttemptMetrics } from './attempt-metrics.js';
import { LabelledCounter } from './series.js';
import { ObservabilityServer, type ObservabilityServerOptions } from './http-server.js';
import type { JobEvent } from './job-events.js';
import { LedgerCounts } from './ledger-counts.js';
import { renderMetrics, type WorkerFigures } from './metrics.js';
import { ReadinessCheck, type ConsumerProblem, type Readiness } from './readiness.js';
import { EventSubscription, type EventLogHandler, type SubscribeOptions } from './event-subscription.js';

/** What is read from each of the process's workers (`LedgerWorker` has all of it). */
export interface ObservedWorker {
  health(): { status: string };
  consumersNotFetching(): ConsumerProblem[];
  readonly runningCount: number;
  readonly handlerThreadCount: number;
  eventLoopStats(): NonNullable<WorkerFigures['eventLoop']>;
  replacementCounts(): WorkerFigures['replacements'];
}

export interface ProcessObservabilitySources {
  config: Readonly<Config>;
  logger: Logger;
  ledger: Ledger;
  redis: Redis;
  /** This process's workers, as they are now. */
  workers: () => readonly ObservedWorker[];
  /** Whether the process is closing (readiness then answers unready). */
  closing: () => boolean;
  /** The state store, if the process opened it. */
  stateStore: () => TieredStateStore | undefined;
  /** Every kind of disagreement reconcile can find: each is exported from zero. */
  disagreementKinds: readonly string[];
}

export class ProcessObservability {
  private readonly attemptMetrics = new AttemptMetrics();
  /**
   * Whether the attempt histograms are fed: from the start with `JOBLEDGER_METRICS_PORT` set, else
   * from the first `serve()` or `metrics()` call. A process nobody scrapes keeps none.
   */
  private metricsWanted: boolean;
  private readonly maintenanceTicks = new LabelledCounter(['task', 'outcome']);
  private readonly reconcileDisagreements = new LabelledCounter(['kind']);
  private readonly counts: LedgerCounts;
  private readonly readinessCheck: ReadinessCheck;
  private readonly servers = new Set<ObservabilityServer>();
  private readonly subscriptions = new Set<EventSubscription>();

  constructor(private readonly sources: ProcessObservabilitySources) {
    const { config, ledger, redis } = sources;
    this.metricsWanted = config.metricsPort !== null;
    for (const kind of sources.disagreementKinds) this.reconcileDisagreements.add([kind], 0);
    this.counts = new LedgerCounts(() => ledger.ledgerFigures({ lockDurationMs: config.lockDurationMs }), config.metricsCacheMs);
    this.readinessCheck = new ReadinessCheck({
      ledger,
      redis,
      workerStatuses: () => [...(sources.closing() ? ['closing'] : []), ...sources.workers().map((w) => w.health().status)],
      consumerProblems: () => sources.workers().flatMap((w) => w.consumersNotFetching()),
      pendingMigrations: () => ledger.pendingMigrations(),
      timeoutMs: 2000,
    });
  }

  /** An attempt event a worker of this process recorded (feeds the histograms while metrics are wanted). */
  recorded(event: JobEvent): void {
    if (this.metricsWanted) this.attemptMetrics.observe(event);
  }

  /** Maintenance ticks of `task` that ended with `outcome`. */
  maintenanceTicked(task: string, outcome: string, ticks: number): void {
    this.maintenanceTicks.add([task, outcome], ticks);
  }

  /** Disagreements between Redis and the ledger that reconcile found, by kind. */
  disagreementsFound(found: Record<string, number>): void {
    for (const [kind, count] of Object.entries(found)) this.reconcileDisagreements.add([kind], count);
  }

  metrics(): Promise<string> {
    this.metricsWanted = true;
    return renderMetrics({
      counts: this.counts,
      attempts: this.attemptMetrics,
      workers: () => this.workerFigures(),
      groupCommit: () => this.sources.ledger.groupCommitStats,
      maintenanceTicks: this.maintenanceTicks,
      reconcileDisagreements: this.reconcileDisagreements,
      stateTiers: async () => this.sources.stateStore()?.stats(),
      logger: this.sources.logger,
    });
  }

  readiness(): Promise<Readiness> {
    return this.readinessCheck.check();
  }

  async serve(options: Partial<ObservabilityServerOptions>): Promise<ObservabilityServer> {
    const { config, logger } = this.sources;
    const port = options.port ?? config.metricsPort;
    if (port === null) throw new InvalidOptionError('serveMetrics', 'a { port } or JOBLEDGER_METRICS_PORT set', options.port);
    this.metricsWanted = true;
    const server = await ObservabilityServer.start(
      { port, host: options.host ?? config.metricsHost },
      { metrics: () => this.metrics(), readiness: () => this.readiness(), logger },
    );
    this.servers.add(server);
    return server;
  }

  /** Follows the ledger's event log (event-subscription.ts); the subscription is closed with this object unless closed before. */
  async subscribe(options: SubscribeOptions, handler: EventLogHandler): Promise<EventSubscription> {
    const { config, ledger, logger } = this.sources;
    const subscription = await EventSubscription.start({ ledger, redisTarget: config, redisPrefix: config.redisPrefix, logger }, options, handler);
    this.subscriptions.add(subscription);
    void subscription.done.catch(() => undefined).finally(() => this.subscriptions.delete(subscription));
    return subscription;
  }

  /** Closes every server `serve` started and every subscription `subscribe` made. */
  async close(): Promise<void> {
    await Promise.all([...this.servers].map((s) => s.close()));
    await Promise.all([...this.subscriptions].map((s) => s.close()));
  }

  private workerFigures(): WorkerFigures {
    const workers = this.sources.workers();
    const started = workers.find((w) => w.health().status !== 'starting');
    return {
      running: workers.reduce((n, w) => n + w.runningCount, 0),
      handlerThreads: workers.reduce((n, w) => n + w.handlerThreadCount, 0),
      eventLoop: started ? started.eventLoopStats() : null,
      replacements: sumReplacements(workers.flatMap((w) => w.replacementCounts())),
    };
  }
}

/** One entry per queue and cause, however many workers of this process consume the queue. */
function sumReplacements(counts: readonly { queue: string; cause: string; count: number }[]): { queue: string; cause: string; count: number }[] {
  const summed = new Map<string, { queue: string; cause: string; count: number }>();
  for (const c of counts) {
    const key = `${c.queue}\u0000${c.cause}`;
    const entry = summed.get(key);
    if (entry) entry.count += c.count;
    else summed.set(key, { ...c });
  }
  return [...summed.values()];
}
