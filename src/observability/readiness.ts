/**
 * Whether this process can do its work: the database answers a trivial query (Ledger.probe, through
 * the hot path's own connections), a SQLite ledger's file is still where it was opened (a removed
 * or replaced file leaves the process writing to one nobody else reads), Redis answers a PING, and
 * no worker of this process is closing. Each check is bounded by `timeoutMs`; none throws.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import type { Redis } from '../transport/redis-connection.js';
import type { Ledger } from '../store/index.js';

export interface CheckResult {
  ok: boolean;
  /** What failed, for the response body. */
  error?: string;
}

export interface Readiness {
  ready: boolean;
  checks: { database: CheckResult; redis: CheckResult; workers: CheckResult };
}

export interface ReadinessSources {
  ledger: Pick<Ledger, 'probe' | 'target'>;
  redis: Pick<Redis, 'ping'>;
  /** Statuses of this process's workers (`LedgerWorker.health().status`). */
  workerStatuses: () => string[];
  timeoutMs: number;
}

export class ReadinessCheck {
  /** The SQLite file's inode at the first check: a file put in its place is not the ledger. */
  private sqliteInode: number | undefined;

  constructor(private readonly sources: ReadinessSources) {}

  async check(): Promise<Readiness> {
    const [database, redis] = await Promise.all([this.database(), this.redis()]);
    const closing = this.sources.workerStatuses().filter((s) => s === 'closing' || s === 'closed');
    const workers: CheckResult = closing.length ? { ok: false, error: `${closing.length} worker(s) closing` } : { ok: true };
    return { ready: database.ok && redis.ok && workers.ok, checks: { database, redis, workers } };
  }

  private async database(): Promise<CheckResult> {
    const path = this.sources.ledger.target.sqlitePath;
    if (path && path !== ':memory:') {
      const problem = await this.sqliteFileProblem(path);
      if (problem) return { ok: false, error: problem };
    }
    const probe = await this.sources.ledger.probe(this.sources.timeoutMs);
    return probe.ok ? { ok: true } : { ok: false, error: probe.error };
  }

  private async sqliteFileProblem(path: string): Promise<string | undefined> {
    try {
      await access(path, constants.R_OK | constants.W_OK);
      const { ino } = await stat(path);
      this.sqliteInode ??= ino;
      if (ino !== this.sqliteInode) return 'the SQLite database file was replaced since this process opened it';
      return undefined;
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return code === 'ENOENT' ? 'the SQLite database file is gone' : `the SQLite database file is not readable and writable (${String(code ?? error)})`;
    }
  }

  private async redis(): Promise<CheckResult> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${this.sources.timeoutMs} ms`)), this.sources.timeoutMs);
      });
      await Promise.race([this.sources.redis.ping(), timeout]);
      return { ok: true };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message.split('\n')[0]! : String(error) };
    } finally {
      clearTimeout(timer);
    }
  }
}
