/**
 * A full garbage collection every few thousand records of a long export. V8 sizes its old space for
 * throughput and lets an export's short-lived garbage (rows, entities, JSON text) pile up to about
 * 300 MiB before it collects, while what an export keeps alive is one page of records. Collecting
 * every `everyRecords` keeps the process near its live size for a few percent more CPU. Node exposes
 * `gc` only behind a V8 flag; it is set here, at run time, for this process alone.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function heapCollector(everyRecords = 5000): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  let sinceLast = 0;
  return () => {
    if (++sinceLast < everyRecords || typeof gc !== 'function') return;
    sinceLast = 0;
    gc();
  };
}
