/**
 * In-process subscriptions to what this process's workers record: each event is delivered after the
 * ledger committed it, never before, in the order this process recorded them. Listeners run one
 * after the other; one that throws (or whose promise rejects) is logged and the others, and the
 * worker, carry on.
 */
import { InvalidOptionError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SerializedError } from '../store/index.js';

export const jobEventTypes = [
  'job.started',
  'job.completed',
  'job.retry_scheduled',
  'job.failed',
  'job.interrupted',
  'job.cancelled',
  'job.superseded',
  'job.stalled',
] as const;
export type JobEventType = (typeof jobEventTypes)[number];

export interface JobEvent {
  type: JobEventType;
  jobId: string;
  /** The job type's name. */
  name: string;
  queue: string;
  /** The attempt's number (1 for the first). */
  attempt: number;
  /** Epoch ms the worker recorded it at (the ledger's timestamp of the write). */
  at: number;
  /** For an attempt's end: how long it ran, as the ledger records it. */
  durationMs?: number;
  /**
   * `job.started`: how long the job waited from when it became due (its `run_at`: the enqueue, the
   * end of its delay or retry backoff, an operator's retry) to this attempt's start.
   */
  pickupMs?: number;
  /** `job.retry_scheduled`, `job.failed`: what the attempt threw. */
  error?: SerializedError;
  /** `job.retry_scheduled`: the delay before the next attempt. */
  delayMs?: number;
  /** `job.stalled`: why this process lost the attempt. */
  reason?: string;
}

export type JobEventListener = (event: JobEvent) => unknown;

export class JobEvents {
  private readonly listeners = new Map<JobEventType | '*', Set<JobEventListener>>();

  constructor(private readonly logger: Logger) {}

  /** Calls `listener` with every event of `type` (`'*'`: every event). Returns a function that unsubscribes. */
  on(type: JobEventType | '*', listener: JobEventListener): () => void {
    if (type !== '*' && !(jobEventTypes as readonly string[]).includes(type)) {
      throw new InvalidOptionError('on', `'*' or a job event type (${jobEventTypes.join(', ')})`, type);
    }
    if (typeof listener !== 'function') throw new InvalidOptionError('on', 'a listener function', listener);
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => this.off(type, listener);
  }

  off(type: JobEventType | '*', listener: JobEventListener): void {
    this.listeners.get(type)?.delete(listener);
  }

  /** Whether anyone listens (the worker skips building events nobody reads). */
  get listened(): boolean {
    for (const set of this.listeners.values()) if (set.size) return true;
    return false;
  }

  /** @internal Delivers one committed event to its listeners; never throws. */
  emit(event: JobEvent): void {
    // Called for every attempt's start and end, mostly with nobody listening: nothing is made then.
    if (this.listeners.size === 0) return;
    this.deliver(this.listeners.get(event.type), event);
    this.deliver(this.listeners.get('*'), event);
  }

  private deliver(set: Set<JobEventListener> | undefined, event: JobEvent): void {
    if (!set || set.size === 0) return;
    // A copy: a listener may unsubscribe itself (or others) while the event is delivered.
    for (const listener of [...set]) {
      try {
        const returned = listener(event);
        if (returned instanceof Promise) returned.catch((error: unknown) => this.failed(event, error));
      } catch (error) {
        this.failed(event, error);
      }
    }
  }

  private failed(event: JobEvent, error: unknown): void {
    this.logger.error({ err: error, event: event.type, jobId: event.jobId }, 'a job event listener threw; the worker carries on');
  }
}
