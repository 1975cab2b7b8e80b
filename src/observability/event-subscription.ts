/**
 * Following the ledger's event log from any process (`JobLedger.subscribe`): every event that
 * commits, in commit order, from a position (after the event id a follower last handled, or the
 * log's end now), each delivered once the handler of the one before it has returned. At least once:
 * a follower that stops (closed, killed, a handler that throws) resumes after the last event it
 * handled, and gets each event after that position exactly as the log holds it, none skipped, none
 * before it again. The position is the caller's to keep (`lastEventId`).
 *
 * The ledger is the only source. A Redis channel (transport/events-written.ts) only wakes the
 * follower when some process commits events; without it (Redis down, a notice lost) the follower
 * reads every `pollIntervalMs`.
 */
import type { Logger } from '../logger.js';
import type { EventLogPosition, EventRow, Ledger } from '../store/index.js';
import { eventsWrittenChannel } from '../transport/events-written.js';
import { closeRedis, createRedis, type Redis, type RedisTarget } from '../transport/redis-connection.js';
import { InvalidOptionError } from '../errors.js';

export interface SubscribeOptions {
  /**
   * Start after this event (`evt_...`): the id of the last event the follower handled. Default: the
   * end of the log now (only events that commit from now on).
   */
  after?: string;
  /** Only events of these types (`job.failed`, `run.completed`, ...). Default: every type. */
  types?: readonly string[];
  /** How often the log is read when no notice comes. Default 1000 ms. */
  pollIntervalMs?: number;
  /** Events read at a time. Default 500. */
  batchSize?: number;
}

export type EventLogHandler = (event: EventRow) => unknown;

export interface EventSubscriptionSources {
  ledger: Pick<Ledger, 'eventLogPosition' | 'readEventLog'>;
  redisTarget: RedisTarget;
  redisPrefix: string;
  logger: Logger;
}

export class EventSubscription {
  private position!: EventLogPosition;
  private lastId: string | undefined;
  private closed = false;
  private woken = false;
  private wake: (() => void) | undefined;
  private subscriber: Redis | undefined;
  private running: Promise<void> = Promise.resolve();

  private constructor(
    private readonly sources: EventSubscriptionSources,
    private readonly options: SubscribeOptions,
    private readonly handler: EventLogHandler,
  ) {
    this.lastId = options.after;
  }

  /**
   * Finds the start (rejects with `NotFoundError` for an `after` the log does not hold, and with a
   * coded error for an unknown type), listens for notices, and starts delivering.
   */
  static async start(sources: EventSubscriptionSources, options: SubscribeOptions, handler: EventLogHandler): Promise<EventSubscription> {
    if (typeof handler !== 'function') throw new InvalidOptionError('subscribe', 'a handler function', handler);
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    const batchSize = options.batchSize ?? 500;
    if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 1) throw new InvalidOptionError('subscribe.pollIntervalMs', 'a whole number of milliseconds >= 1', pollIntervalMs);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000) throw new InvalidOptionError('subscribe.batchSize', 'a whole number from 1 to 10000', batchSize);
    const subscription = new EventSubscription(sources, { ...options, pollIntervalMs, batchSize }, handler);
    subscription.position = await sources.ledger.eventLogPosition(options.after);
    // Checks the types (a coded error for an unknown one) before anything runs.
    await sources.ledger.readEventLog(subscription.position, { ...(options.types ? { types: options.types } : {}), limit: 1 });
    await subscription.listen();
    subscription.running = subscription.run();
    subscription.running.catch((error: unknown) =>
      sources.logger.error({ err: error, lastEventId: subscription.lastId }, 'event subscription stopped: its handler threw'),
    );
    return subscription;
  }

  /** The id of the last event the handler returned for: where to resume (`after`) next time. */
  get lastEventId(): string | undefined {
    return this.lastId;
  }

  /**
   * Resolves when the subscription is closed; rejects with the handler's error if it threw (the
   * subscription then stops, `lastEventId` still before the event it failed on).
   */
  get done(): Promise<void> {
    return this.running;
  }

  /** Stops after the event being handled, if any; resolves once it has stopped. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.running.catch(() => undefined);
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    if (subscriber) await closeRedis(subscriber);
  }

  private async listen(): Promise<void> {
    const subscriber = createRedis(this.sources.redisTarget, 'subscriber');
    // Redis is only the wake-up: while it is away, the follower polls, and says so once.
    let warned = false;
    subscriber.on('error', (error: unknown) => {
      if (!warned) this.sources.logger.warn({ err: error }, 'event subscription: no notices from Redis; reading the ledger by polling');
      warned = true;
    });
    subscriber.on('ready', () => (warned = false));
    subscriber.on('message', () => this.notice());
    this.subscriber = subscriber;
    await subscriber.subscribe(eventsWrittenChannel(this.sources.redisPrefix)).catch(() => undefined);
  }

  private notice(): void {
    this.woken = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    const { types, batchSize, pollIntervalMs } = this.options;
    while (!this.closed) {
      this.woken = false;
      let batch;
      try {
        batch = await this.sources.ledger.readEventLog(this.position, { ...(types ? { types } : {}), limit: batchSize! });
      } catch (error) {
        this.sources.logger.warn({ err: error }, 'event subscription: reading the event log failed; trying again');
        await this.pause(pollIntervalMs!);
        continue;
      }
      for (const { event, position } of batch) {
        if (this.closed) return;
        await this.handler(event);
        this.position = position;
        this.lastId = event.id;
      }
      if (batch.length < batchSize! && !this.woken) await this.pause(pollIntervalMs!);
    }
  }

  /** Waits `ms`, or less if a notice comes or the subscription closes. */
  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }
}
