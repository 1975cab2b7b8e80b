/**
 * Whether this worker can reach its database now: a trivial query every `intervalMs` through the
 * ledger's hot-path connections, failed after `timeoutMs`. A worker whose database is down (a
 * restart, a failover) keeps running and reconnects by itself (store/engine/connection-loss.ts); meanwhile
 * its health says `database: 'unreachable'` and `ready: false`, so that a load balancer or an
 * orchestrator's readiness check stops counting on it, and `jobledger doctor` says so.
 */
import type { Logger } from '../logger.js';
import type { Ledger } from '../store/index.js';

export interface DatabaseHealth {
  /** `unchecked` before the first probe. */
  state: 'ok' | 'unreachable' | 'unchecked';
  /** Epoch ms of the last probe (local clock). */
  checkedAt: number | null;
  /** Epoch ms of the first failed probe of the current outage, `null` while reachable. */
  unreachableSince: number | null;
  /** What the last failed probe met. */
  error: string | null;
}

export interface DatabaseProbeOptions {
  ledger: Pick<Ledger, 'probe'>;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
}

export class DatabaseProbe {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private current: DatabaseHealth = { state: 'unchecked', checkedAt: null, unreachableSince: null, error: null };

  constructor(private readonly options: DatabaseProbeOptions) {}

  start(): void {
    if (this.timer || this.options.intervalMs <= 0) return;
    const tick = (): void => {
      this.running = this.check().finally(() => {
        this.running = undefined;
        if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs).unref();
      });
    };
    this.timer = setTimeout(tick, 0).unref();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  health(): DatabaseHealth {
    return { ...this.current };
  }

  /** One probe now; updates `health()` and logs when the database goes away or comes back. */
  async check(now = Date.now()): Promise<void> {
    const result = await this.options.ledger.probe(this.options.timeoutMs);
    const before = this.current;
    if (result.ok) {
      if (before.state === 'unreachable') {
        this.options.logger.info({ downMs: now - (before.unreachableSince ?? now) }, 'database reachable again');
      }
      this.current = { state: 'ok', checkedAt: now, unreachableSince: null, error: null };
      return;
    }
    if (before.state !== 'unreachable') {
      this.options.logger.warn({ error: result.error }, 'database unreachable: this worker reports itself not ready until it answers');
    }
    this.current = { state: 'unreachable', checkedAt: now, unreachableSince: before.unreachableSince ?? now, error: result.error };
  }
}
