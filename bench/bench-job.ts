/**
 * The bench's no-op job type for jobledger: the same schema as `demo.noop` (any object), and a
 * handler that does nothing but note, for latency-phase jobs, how long after the enqueue call it was
 * entered. Imported only by the harness and by ledger-mode children, so that a bare BullMQ child
 * never loads jobledger (and MikroORM) and its RSS stays BullMQ's own.
 */
import { z } from 'zod';
import { defineJob, type JobType } from '../src/index.js';
import { benchJobName, enqueuedAt, wallNow } from './protocol.js';

/** Called once per handler entry with the job's enqueue timestamp, if it carried one. */
export type OnHandled = (enqueuedAtMs: number | undefined, enteredAtMs: number) => void;

export function benchNoopJob(onHandled: OnHandled = () => undefined): JobType {
  return defineJob({
    name: benchJobName,
    schema: z.object({}).passthrough(),
    handler: (payload) => {
      onHandled(enqueuedAt(payload), wallNow());
      return null;
    },
  });
}
