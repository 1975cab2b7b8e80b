/**
 * The composition root: one object that opens the ledger and Redis and wires the producer, the
 * operator actions, the queries and workers together. The CLI uses it; so can an application.
 */
import { loadConfig, type Config } from './config.js';
import type { JobLedgerOptions } from './jobledger-options.js';
import { registerPipelines } from './jobs/define-pipeline.js';
import { Pipelines, type PipelineActionInput, type PipelineActionResult } from './jobs/pipelines.js';
import type { Dispatcher } from './jobs/dispatcher.js';
import { openDispatcher } from './jobs/open-dispatcher.js';
import { Operator, type OperatorActionInput } from './jobs/operator.js';
import { Producer, type EnqueuedJob, type TransactionalEnqueuer } from './jobs/producer.js';
import { closeRedis, type Redis } from './transport/redis-connection.js';
import { JobLedgerClosedError } from './errors.js';
import type { RedisErrorLog } from './transport/redis-errors.js';
import { guardLogger } from './log-redaction.js';
import { JobRegistry } from './jobs/registry.js';
import type { EnqueueOptions, EnqueueRequest } from './jobs/validate-enqueue.js';
import { createLogger, type Logger } from './logger.js';
import type { EntityManager } from '@mikro-orm/core';
import type { Telemetry } from 'bullmq';
import { Ledger, ReplayStore, type AuditFilter, type AuditRow, type JobDetail, type OperatorResult, type OutcomeHook } from './store/index.js';
import { catchUpSearchIndex, fullTextSearch, indexSearchDocuments, type SearchIndexOptions, type SearchIndexResult, type TextSearchFilter, type TextSearchOptions, type TextSearchResult } from './store/index.js';
import { Replays } from './jobs/replay.js';
import { exportJobRecords, type ExportFilter, type ExportOptions } from './jobs/job-export.js';
import { exportEvidenceBundle } from './jobs/bundle/export-bundle.js';
import { ColdArchive } from './jobs/archive/cold-archive.js';
import type { BundleManifest } from './jobs/bundle/evidence-bundle.js';
import { LedgerWorker } from './workers/ledger-worker.js';
import { checkWorkerOptions, type CreateWorkerOptions } from './workers/worker-options.js';
import { Maintenance } from './workers/maintenance/maintenance.js';
import { builtInTasks } from './workers/maintenance/tasks.js';
import { scheduleTasks } from './workers/maintenance/schedule-tasks.js';
import { checkSchedules, type JobSchedule } from './jobs/define-schedule.js';
import { disagreementKinds } from './workers/maintenance/reconcile.js';
import type { ObservabilityServer, ObservabilityServerOptions } from './observability/http-server.js';
import { JobEvents, type JobEvent, type JobEventType } from './observability/job-events.js';
import type { Readiness } from './observability/readiness.js';
import { ProcessObservability } from './observability/process-observability.js';
import type { EventLogHandler, EventSubscription, SubscribeOptions } from './observability/event-subscription.js';
import { EventsWrittenNotice } from './transport/events-written.js';
import { TieredStateStore } from './hot-state/tiered-state-store.js';

export type { JobLedgerOptions } from './jobledger-options.js';

export class JobLedger {
  private readonly workers = new Set<LedgerWorker>();
  /** Writes joined to every applied attempt outcome (registered by pipelines and the like). */
  private readonly outcomeHooks: OutcomeHook[] = [];
  private closed = false;
  private schedules: readonly JobSchedule[] = [];
  private stateStore: TieredStateStore | undefined;
  private maintenanceService: Maintenance | undefined;
  private replayService: Replays | undefined;
  private coldArchive: ColdArchive | undefined;
  /** What this process's workers record, delivered after each commit (observability/job-events.ts). */
  readonly events: JobEvents;
  /** Metrics, readiness and the servers of both (observability/process-observability.ts). */
  private readonly observability: ProcessObservability;
  /** Wakes followers of the event log in other processes after this one commits events. */
  private readonly eventsWritten: EventsWrittenNotice;

  private constructor(
    readonly config: Readonly<Config>,
    readonly logger: Logger,
    readonly ledger: Ledger,
    readonly registry: JobRegistry,
    readonly producer: Producer,
    readonly operator: Operator,
    private readonly dispatcher: Dispatcher,
    private readonly redis: Redis,
    /** Start and read multi-stage pipelines (jobs/pipelines.ts). */
    readonly pipelines: Pipelines,
    private readonly redisErrors: RedisErrorLog,
    private readonly telemetry: Telemetry | undefined,
  ) {
    this.events = new JobEvents(logger);
    this.eventsWritten = new EventsWrittenNotice(redis, config.redisPrefix);
    this.observability = new ProcessObservability({
      config,
      logger,
      ledger,
      redis,
      workers: () => [...this.workers],
      closing: () => this.closed,
      stateStore: () => this.stateStore,
      disagreementKinds,
    });
  }

  static async open(options: JobLedgerOptions): Promise<JobLedger> {
    const config = options.config ?? loadConfig();
    const logger = options.logger ? guardLogger(options.logger) : createLogger(config);
    const registry = new JobRegistry(options.jobs);
    const pipelineDefinitions = registerPipelines(options.pipelines ?? [], registry);
    const schedules = options.schedules ?? [];
    checkSchedules(schedules, registry, { maxPayloadBytes: config.maxPayloadBytes, maxJsonDepth: config.maxJsonDepth }, config.maintenance.timezone);
    const ledger = await Ledger.open(config.database, {
      migrate: options.migrate ?? false,
      create: options.createDatabase ?? true,
      databaseRetryMs: config.databaseRetryMs,
    });
    const telemetry = options.telemetry;
    // A process with job types enqueues or runs them: it refuses a Redis prefix another ledger holds.
    const { redis, redisErrors, dispatcher } = await openDispatcher({ config, logger, ledger, telemetry, claim: options.jobs.length > 0 }).catch(
      async (error: unknown) => {
        await ledger.close();
        throw error;
      },
    );
    const producer = new Producer({ ledger, registry, dispatcher, logger, maxPayloadBytes: config.maxPayloadBytes, maxJsonDepth: config.maxJsonDepth });
    const operator = new Operator(ledger, dispatcher, redis, config.redisPrefix, logger);
    if (options.relay ?? true) dispatcher.startRelay(config.relayIntervalMs, config.relayGraceMs);
    const pipelines = new Pipelines({
      ledger,
      registry,
      dispatcher,
      maxPayloadBytes: config.maxPayloadBytes,
      maxJsonDepth: config.maxJsonDepth,
      definitions: pipelineDefinitions,
      operator,
    });
    const jl = new JobLedger(config, logger, ledger, registry, producer, operator, dispatcher, redis, pipelines, redisErrors, telemetry);
    if (pipelineDefinitions.size) jl.outcomeHooks.push(pipelines.outcomeHook);
    jl.schedules = schedules;
    return jl;
  }

  /** True once `close()` has been called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Keyed, versioned state documents and their snapshots (store/state/state-store.ts), read through
   * the hot tiers (hot-state/tiered-state-store.ts; `config.stateHot`), with `stats()` per tier.
   */
  get state(): TieredStateStore {
    return (this.stateStore ??= new TieredStateStore(this.ledger, { maxJsonDepth: this.config.maxJsonDepth }, {
      redis: this.config,
      redisPrefix: this.config.redisPrefix,
      settings: this.config.stateHot,
      redisErrors: this.redisErrors,
    }));
  }

  /**
   * Replays: `run` makes new jobs from the payloads of the jobs a filter matches, under a named
   * replay record (never an overwrite); `cancel`, `get`, `list`, and a job's `lineage`.
   */
  get replays(): Replays {
    const { ledger, producer } = this;
    return (this.replayService ??= new Replays({ ledger, producer, store: new ReplayStore(ledger) }));
  }

  /**
   * The cold archive of finished jobs (docs/operations.md, "Cold archive"): `run` moves jobs past
   * `JOBLEDGER_ARCHIVE_AFTER_DAYS` into checksummed segments, `list`, `verify`, `restore` a segment,
   * `find` an archived job. `export` and `show` find archived jobs through it.
   */
  get archive(): ColdArchive {
    return (this.coldArchive ??= new ColdArchive(this.ledger, this.config));
  }

  /** Scheduled maintenance: `start()` the scheduler, `run(task)` one task now, `status()`. */
  get maintenance(): Maintenance {
    const { ledger, logger, config, registry, dispatcher } = this;
    const onDisagreements = (found: Record<string, number>): void => this.observability.disagreementsFound(found);
    return (this.maintenanceService ??= new Maintenance({
      ledger,
      logger,
      config,
      tasks: [
        ...builtInTasks({ ledger, dispatcher, registry, config, logger, onDisagreements, archive: () => this.archive }),
        ...scheduleTasks(this.schedules, (name, payload, options) => this.enqueue(name, payload, options), ledger),
      ],
      onTicks: (task, outcome, ticks) => this.observability.maintenanceTicked(task, outcome, ticks),
    }));
  }

  enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<EnqueuedJob> {
    return this.whileOpen('enqueue', () => this.noticed(this.producer.enqueue(name, payload, options)));
  }

  enqueueBulk(requests: readonly EnqueueRequest[]): Promise<EnqueuedJob[]> {
    return this.whileOpen('enqueueBulk', () => this.noticed(this.producer.enqueueBulk(requests)));
  }

  /** Transactional enqueue through the caller's EntityManager; see `Producer.transaction`. */
  transaction<T>(em: EntityManager, work: (tx: TransactionalEnqueuer) => Promise<T>): Promise<T> {
    return this.whileOpen('transaction', () => this.noticed(this.producer.transaction(em, work)));
  }

  cancel(input: OperatorActionInput): Promise<OperatorResult> {
    return this.whileOpen('cancel', () => this.noticed(this.operator.cancel(input)));
  }

  retry(input: OperatorActionInput): Promise<OperatorResult> {
    return this.whileOpen('retry', () => this.noticed(this.operator.retry(input)));
  }

  /** Cancels a running pipeline and its unfinished stage jobs, with a reason; see `Pipelines.cancel`. */
  cancelPipeline(input: PipelineActionInput): Promise<PipelineActionResult> {
    return this.whileOpen('cancelPipeline', () => this.noticed(this.pipelines.cancel(input)));
  }

  /** Runs a failed or cancelled pipeline again from the stage that ended it; see `Pipelines.retry`. */
  retryPipeline(input: PipelineActionInput): Promise<PipelineActionResult> {
    return this.whileOpen('retryPipeline', () => this.noticed(this.pipelines.retry(input)));
  }

  /**
   * The audit log, newest first: who took which operator action, from where (`cli`, `api`,
   * `library`), why, and what it changed. Filters: `actor`, `action`, `subject` (a job, run or
   * snapshot id, `namespace/key`, a maintenance task), `source`, `since`, `until`; pages of `limit`
   * rows (default 100) continue `after` the id of the previous page's last row.
   */
  audit(filter?: AuditFilter): Promise<AuditRow[]> {
    return this.ledger.listAudit(filter);
  }

  /**
   * Full-text search over jobs' error messages, payloads and notable events (docs/search.md):
   * `text` is words (all must match), "quoted phrases" and `prefix*` words; `filter` narrows by job
   * type (`name`), queue, status, run, creation time (`since`, `until`) and `fields`, and pages with
   * `limit` (default 50) and `before` (the previous page's `next`). Newest job first; each hit says
   * which fields matched, with a snippet. The index first takes up to `catchUpEvents` new events.
   */
  search(text: string, filter?: TextSearchFilter, options?: TextSearchOptions): Promise<TextSearchResult> {
    return fullTextSearch(this.ledger, text, filter, options);
  }

  /**
   * Brings the full-text search index up to the event log's end (at most `maxEvents` events per
   * call); the `search-index` maintenance task does this on its schedule.
   */
  indexSearch(options?: SearchIndexOptions): Promise<SearchIndexResult> {
    return indexSearchDocuments(this.ledger, options);
  }

  /**
   * @internal Before a listing filtered by error words (the console): the index takes what was
   * committed before this call, as a search does first (`search`).
   */
  async catchUpSearchIndex(): Promise<boolean> {
    return (await catchUpSearchIndex(this.ledger, { maxEvents: 50_000, waitMs: 2000 })).caughtUp;
  }

  /**
   * Follows the ledger's event log, whichever process wrote the events: `handler` gets each event in
   * commit order, after `options.after` (the id of the last event handled, to resume) or from now,
   * one at a time, at least once (observability/event-subscription.ts, docs/observability.md).
   * Resolves once the start is found; `close()` it, or close this object.
   */
  async subscribe(options: SubscribeOptions, handler: EventLogHandler): Promise<EventSubscription> {
    if (this.closed) throw new JobLedgerClosedError('subscribe');
    return this.observability.subscribe(options, handler);
  }

  /** `call()`, or a `JobLedgerClosedError` naming `action` once `close()` was called: the pools' own errors say nothing of why. */
  private whileOpen<T>(action: string, call: () => Promise<T>): Promise<T> {
    return this.closed ? Promise.reject(new JobLedgerClosedError(action)) : call();
  }

  /** Once `written` has committed events, tells the followers of the event log. */
  private async noticed<T>(written: Promise<T>): Promise<T> {
    const result = await written;
    this.eventsWritten.notify();
    return result;
  }

  /**
   * Every job `filter` matches with its attempts and events, newest first, streamed a page at a
   * time (`for await (const { job, attempts, events } of jl.export({ runId }))`).
   */
  export(filter?: ExportFilter, options?: ExportOptions): AsyncGenerator<JobDetail> {
    return exportJobRecords(this.ledger, filter, options, this.archive);
  }

  /**
   * Writes the jobs `filter` matches as an evidence bundle at `target` (a gzip-compressed tar with a
   * manifest and a SHA-256 per part; jobs/bundle/evidence-bundle.ts); a run's bundle (`runId`) also
   * holds the run and its figures, a pipeline's (`pipelineId`) the pipeline with its stages and events.
   * Refuses an existing `target` unless `force`. `verifyEvidenceBundle(path)` checks one.
   */
  async exportBundle(target: string, filter: ExportFilter = {}, options: { force?: boolean } = {}): Promise<BundleManifest> {
    return exportEvidenceBundle({ ledger: this.ledger, pipelines: this.pipelines, dialect: this.config.database.dialect, archive: this.archive }, target, filter, options);
  }

  /** Hands over every committed, undispatched job now (the relay does this on its own every second). */
  flushOutbox(): Promise<{ dispatched: string[]; deferred: string[] }> {
    return this.whileOpen('flushOutbox', () => this.dispatcher.relayOnce(0));
  }

  /**
   * Subscribes to what this process's workers record (`'*'`: everything): each event after the ledger
   * committed it, in the order recorded. A listener that throws is logged; the worker carries on.
   * Returns a function that unsubscribes.
   */
  on(type: JobEventType | '*', listener: (event: JobEvent) => unknown): () => void {
    return this.events.on(type, listener);
  }

  /**
   * This process's metrics in the Prometheus text format (what `/metrics` serves). The histograms
   * of attempt durations and pickup latencies count from the process's start when
   * `JOBLEDGER_METRICS_PORT` is set, else from the first call of this or `serveMetrics()`.
   */
  metrics(): Promise<string> {
    return this.observability.metrics();
  }

  /** Whether the database, Redis and this process's workers are fit (what `/health/ready` answers). */
  readiness(): Promise<Readiness> {
    return this.observability.readiness();
  }

  /**
   * Serves `/metrics`, `/health/live` and `/health/ready` over HTTP (docs/observability.md). Default
   * port `config.metricsPort` (`JOBLEDGER_METRICS_PORT`), host `config.metricsHost` (127.0.0.1).
   * Closed with this object.
   */
  async serveMetrics(options: Partial<ObservabilityServerOptions> = {}): Promise<ObservabilityServer> {
    if (this.closed) throw new JobLedgerClosedError('serveMetrics');
    return this.observability.serve(options);
  }

  /** A worker for this process's job types; call `start()` on it. Closed with this object. */
  createWorker(options: CreateWorkerOptions = {}): LedgerWorker {
    if (this.closed) throw new JobLedgerClosedError('createWorker');
    const checked = checkWorkerOptions(options, this.registry.queues());
    const worker = new LedgerWorker({
      ...checked,
      ledger: this.ledger,
      registry: this.registry,
      config: this.config,
      logger: this.logger,
      outcomeHooks: this.outcomeHooks,
      state: () => this.state,
      dispatch: (jobs) => this.dispatcher.dispatch(jobs),
      redisErrors: this.redisErrors,
      ...(this.telemetry ? { telemetry: this.telemetry } : {}),
      onRecorded: (event) => {
        this.eventsWritten.notify();
        this.observability.recorded(event);
        this.events.emit(event);
      },
    });
    this.workers.add(worker);
    return worker;
  }

  /**
   * Closes workers (gracefully), the metrics servers, the relay, Redis and the database, in that
   * order. While the workers drain, `/health/ready` answers 503.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.maintenanceService?.stop(); // before the connections its runs use
    await this.coldArchive?.close();
    await Promise.all([...this.workers].map((w) => w.close()));
    await this.observability.close(); // its servers and event log subscriptions
    this.eventsWritten.close();
    await this.producer.drain(); // single enqueues still gathering or handing over (enqueue-batcher.ts)
    await this.stateStore?.close();
    await this.dispatcher.close();
    await closeRedis(this.redis);
    this.redisErrors.close();
    await this.ledger.close();
  }
}
