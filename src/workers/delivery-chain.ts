/**
 * What stands between BullMQ's call and an attempt, outermost first: one delivery per job at a time
 * (one-delivery-per-job.ts); a job type this worker cannot run is handed back unstarted
 * (unknown-job-type.ts); the poison guard (poison-guard.ts) with the delivery's lock; and a write
 * before the attempt started that met a lost database connection hands the delivery back
 * (database-outage.ts) rather than failing it. Each link makes one promise per delivery, not two
 * (promises.ts).
 */
import type { Logger } from '../logger.js';
import type { JobRegistry } from '../jobs/registry.js';
import { isConnectionLoss, type Ledger, type WorkerIdentity } from '../store/index.js';
import { rejection } from '../promises.js';
import { handBackWhileDatabaseDown } from './database-outage.js';
import { DeliveryLock } from './delivery-lock.js';
import type { EventLoopMonitor } from './event-loop-monitor.js';
import { oneDeliveryPerJob } from './one-delivery-per-job.js';
import { guardAgainstPoison, type DeliveryProcessor, type Processor, type SoloGate } from './poison-guard.js';
import { UnknownJobTypes } from './unknown-job-type.js';

export interface DeliveryChainDeps {
  ledger: Ledger;
  registry: JobRegistry;
  identity: WorkerIdentity;
  logger: Logger;
  lockDurationMs: number;
  maxLostAttempts: number;
  monitor: EventLoopMonitor;
  /** Lets a suspected poison job run alone in the process. */
  gate: SoloGate;
}

/** The processor BullMQ calls, around `attempt`. */
export function deliveryChain(attempt: DeliveryProcessor, deps: DeliveryChainDeps): Processor {
  const { ledger, registry, identity, logger, lockDurationMs, maxLostAttempts, monitor, gate } = deps;
  const guarded = guardAgainstPoison(attempt, { ledger, maxLostAttempts, gate, logger });
  const unknownTypes = new UnknownJobTypes({ ledger, registry, identity, logger });
  return oneDeliveryPerJob((job, token) => {
    let delivered: Promise<unknown>;
    try {
      // Before anything else: a job type this worker cannot run is not started here.
      if (unknownTypes.unknown(job)) delivered = unknownTypes.handBack(job, token);
      else delivered = guarded(job, token, new DeliveryLock(job, token, lockDurationMs, monitor));
    } catch (error) {
      delivered = rejection(error);
    }
    return delivered.catch((error: unknown) => {
      // Only a write before the attempt started gets here with a lost connection (the poison
      // guard's reads, the begin): an outcome that cannot be written is handled in the processor.
      if (isConnectionLoss(error)) return handBackWhileDatabaseDown(job, token, error, logger);
      throw error;
    });
  });
}
