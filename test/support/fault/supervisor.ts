/**
 * A supervisor for child workers, as systemd or Kubernetes would be: it keeps `count` worker
 * processes running, starting a new one whenever one exits, and counts the restarts.
 */
import type { ChildWorker } from '../child-worker.js';
import { track } from '../leak-check.js';
import type { FaultBackend } from './scenario.js';

export interface Supervisor {
  /** The processes running now, one per slot. */
  readonly workers: readonly (ChildWorker | undefined)[];
  /** Exits that were followed by a restart. */
  readonly restarts: number;
  /** Pids of every process it started. */
  readonly pids: readonly number[];
  /** Stops restarting and closes every worker. */
  stop(): Promise<void>;
  /** The same as `stop` (for the leak check). */
  close(): Promise<void>;
}

export async function supervise(
  b: FaultBackend,
  count: number,
  options: Parameters<FaultBackend['startWorker']>[0] = {},
): Promise<Supervisor> {
  const workers: (ChildWorker | undefined)[] = Array.from({ length: count }, () => undefined);
  const pids: number[] = [];
  let restarts = 0;
  let stopped = false;
  const ready: Promise<void>[] = [];
  const loops = workers.map(async (_, slot) => {
    let first = true;
    while (!stopped) {
      const starting = b.startWorker(options);
      if (first) ready.push(starting.then(() => undefined));
      // Once stopped (the test is over), a start that fails is nobody's concern.
      const worker = await starting.catch((error: unknown) => {
        if (stopped) return undefined;
        throw error;
      });
      if (!worker) break;
      if (stopped) {
        await worker.close();
        break;
      }
      workers[slot] = worker;
      pids.push(worker.pid);
      if (!first) restarts++;
      first = false;
      await worker.exited;
    }
  });
  await Promise.all(ready);
  const stop = async (): Promise<void> => {
    stopped = true;
    await Promise.all(workers.flatMap((w) => (w ? [w.close()] : [])));
    await Promise.allSettled(loops);
  };
  const supervisor: Supervisor = {
    workers,
    get restarts() {
      return restarts;
    },
    pids,
    stop: () => supervisor.close(),
    close: stop,
  };
  return track(supervisor, `supervisor of ${count} workers`);
}
