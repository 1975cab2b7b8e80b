/**
 * The Bull Board mirror (opt-in, `JOBLEDGER_BULL_BOARD_MIRROR`): copies into each BullMQ job what
 * Bull Board shows of it, which otherwise carries only the ledger's id. The payload goes into the
 * job's data beside jobledger's own fields, progress through `updateProgress`, the result as the
 * processor's return value (BullMQ's `returnvalue`), and one log line per attempt through `log`.
 * The ledger stays the truth: nothing here is read back, and a mirror write that fails is logged
 * and never fails the attempt. Off, none of it runs: the processor checks for the mirror once.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { SerializedError } from '../store/index.js';
import { mirroredPayloadKey, mirroredValue } from '../jobs/mirrored-value.js';

/** Longest error message a log line carries (the ledger keeps the whole error). */
const maxLoggedErrorChars = 1000;

export interface AttemptLine {
  attempt: number;
  /** The outcome as its event names it, without `job.`: completed, retry_scheduled, failed, ... */
  outcome: string;
  durationMs: number;
  error?: SerializedError;
}

export class BullBoardMirror {
  constructor(
    /** Larger values (UTF-8 JSON) are mirrored as a placeholder naming their size. */
    private readonly maxBytes: number,
    private readonly logger: Logger,
  ) {}

  /**
   * The payload into the job's data, once per Redis job: a producer with the mirror on put it there
   * already, and a later attempt finds it there.
   */
  async payload(bullJob: Job, payload: unknown): Promise<void> {
    const data: Record<string, unknown> = isRecord(bullJob.data) ? bullJob.data : {};
    if (mirroredPayloadKey in data) return;
    await this.write(bullJob, 'payload', () => bullJob.updateData({ ...data, [mirroredPayloadKey]: this.capped(payload) }));
  }

  /** A progress value the ledger has written. Not awaited by the handler: a slow Redis must not slow it. */
  progress(bullJob: Job, value: unknown): void {
    void this.write(bullJob, 'progress', () => bullJob.updateProgress(this.capped(value) as number | object));
  }

  /** At an attempt's recorded end: its log line, and the last progress if the outcome wrote one. */
  async attemptEnded(bullJob: Job, line: AttemptLine, heldProgress: unknown): Promise<void> {
    await Promise.all([
      heldProgress === undefined ? undefined : this.write(bullJob, 'progress', () => bullJob.updateProgress(this.capped(heldProgress) as number | object)),
      this.write(bullJob, 'log', () => bullJob.log(attemptLogLine(line))),
    ]);
  }

  /** The value the processor returns for BullMQ to keep as the job's `returnvalue`. */
  result(value: unknown): unknown {
    return this.capped(value ?? null);
  }

  /** `value`, or a placeholder if its JSON is larger than the cap. */
  capped(value: unknown): unknown {
    return mirroredValue(value, this.maxBytes);
  }

  private async write(bullJob: Job, what: string, operation: () => Promise<unknown>): Promise<void> {
    try {
      await operation();
    } catch (error) {
      this.logger.warn({ err: error, jobId: bullJob.id, what }, 'could not mirror into the BullMQ job for Bull Board (the ledger has it)');
    }
  }
}

/** `attempt 2 failed after 35 ms: Error: boom` */
export function attemptLogLine(line: AttemptLine): string {
  const text = `attempt ${line.attempt} ${line.outcome} after ${line.durationMs} ms`;
  if (!line.error) return text;
  const message = line.error.message.length > maxLoggedErrorChars ? `${line.error.message.slice(0, maxLoggedErrorChars)}...` : line.error.message;
  return `${text}: ${line.error.name}${line.error.code ? ` [${line.error.code}]` : ''}: ${message}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
