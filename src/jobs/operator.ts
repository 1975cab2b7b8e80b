/**
 * Operator actions: cancel and retry. Each writes the ledger first (with who and why), then brings
 * Redis in line: a cancelled job is removed from its queue or its worker is told to abort; a retried
 * job is handed over again as a new incarnation.
 */
import { userInfo } from 'node:os';
import type { Logger } from '../logger.js';
import { assertId, checkAuditSource, isId, textProblem, type AuditSource, type Ledger, type OperatorResult } from '../store/index.js';
import { InvalidOptionError } from '../errors.js';
import { cancelChannel } from '../transport/cancel-channel.js';
import type { Dispatcher } from './dispatcher.js';
import type { Redis } from '../transport/redis-connection.js';

export interface OperatorActionInput {
  jobId: string;
  /** Why: required, recorded in the event. */
  reason: string;
  /** Who: recorded in the event and the audit row. Default the OS user. */
  actor?: string;
  /** Where the action came from, recorded in the audit row: `cli`, `api` or `library`. Default `library`. */
  source?: AuditSource;
  /** @internal The bulk action (its audit row's id, `aud_...`) this one is part of. */
  bulkId?: string;
}

export class Operator {
  constructor(
    private readonly ledger: Ledger,
    private readonly dispatcher: Dispatcher,
    private readonly publisher: Redis,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  async cancel(input: OperatorActionInput): Promise<OperatorResult> {
    const result = await this.ledger.cancelJob(checked(input));
    await this.afterCancel(result);
    return result;
  }

  /** Brings Redis in line with a committed cancel: a running attempt is told to abort, a waiting job removed. */
  async afterCancel(result: OperatorResult): Promise<void> {
    if (result.previousStatus === 'running') {
      await this.publisher.publish(cancelChannel(this.prefix), result.job.id).catch((error: unknown) => {
        this.logger.warn({ err: error, jobId: result.job.id }, 'could not signal workers; the running attempt will find the job cancelled when it ends');
      });
    } else if (result.previousStatus !== 'pending') {
      await this.dispatcher.removeWaiting(result.job);
    }
  }

  async retry(input: OperatorActionInput): Promise<OperatorResult> {
    const result = await this.ledger.retryJob(checked(input));
    const report = await this.dispatcher.redispatch(result.job);
    return report.dispatched.length ? { ...result, job: { ...result.job, status: 'queued' } } : result;
  }
}

function checked(input: OperatorActionInput): { jobId: string; reason: string; actor: string; now: number; source: AuditSource; bulkId: string | null } {
  assertId('job', input.jobId);
  const source = checkAuditSource(input.source ?? 'library');
  if (input.bulkId !== undefined && !isId('aud', input.bulkId)) throw new InvalidOptionError('bulkId', 'an audit row id like "aud_01J..."', input.bulkId);
  return { jobId: input.jobId, ...checkedReasonAndActor(input), source, bulkId: input.bulkId ?? null };
}

/** The reason (required) and actor (default the OS user) of an operator action, checked alike for every action. */
export function checkedReasonAndActor(input: { reason: string; actor?: string }): { reason: string; actor: string; now: number } {
  if (typeof input.reason !== 'string' || input.reason.trim() === '' || textProblem(input.reason) !== null) {
    throw new InvalidOptionError('reason', 'a non-empty reason without NUL characters or lone surrogates', input.reason);
  }
  const actor = input.actor ?? defaultActor();
  // Checked here, like the producer's actor, so both dialects refuse the same values with a typed
  // error (PostgreSQL's varchar(200) would otherwise fail with a driver error, SQLite store anything).
  if (typeof actor !== 'string' || actor.trim() === '' || actor.length > 200 || textProblem(actor) !== null) {
    throw new InvalidOptionError('actor', 'a non-empty string of at most 200 characters', actor);
  }
  return { reason: input.reason.trim(), actor, now: Date.now() };
}

/** The OS user running the action; "operator" where the OS cannot say. */
export function defaultActor(): string {
  try {
    return userInfo().username || 'operator';
  } catch {
    return 'operator';
  }
}
