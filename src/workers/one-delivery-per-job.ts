/**
 * One delivery of a job in this process's processor at a time. BullMQ's lock manager keeps one lock
 * per job id: when a process that froze past a job's lock fetches the job again before its stale
 * delivery is done with, the stale one's end stops the renewal of the fresh one's lock, which then
 * lapses and costs the job a lost attempt it did nothing for. So the fresh one is handed back to
 * wait its turn, until a turn of the event loop after the stale one returned: BullMQ forgets its
 * lock in the promise callbacks that follow our return, and a delivery it had fetched already may
 * reach us in between.
 */
import { afterSettled } from '../promises.js';
import { handBack, type Processor } from './poison-guard.js';

export function oneDeliveryPerJob(deliver: Processor): Processor {
  // Jobs whose delivery is in the processor now.
  const inProcess = new Set<string>();
  // Ids whose delivery returned, forgotten together at the next check phase: one immediate for
  // all of them, not one per job.
  let returned: string[] = [];
  const forgetReturned = (): void => {
    const ids = returned;
    returned = [];
    for (const id of ids) inProcess.delete(id);
  };
  return (job, token) => {
    const id = job.id;
    if (!id) return deliver(job, token);
    if (inProcess.has(id)) return handBack(job, token);
    inProcess.add(id);
    return afterSettled(
      () => deliver(job, token),
      () => {
        if (returned.length === 0) setImmediate(forgetReturned);
        returned.push(id);
      },
    );
  };
}
