/**
 * Whether this process can do its work: the database answers a trivial query (Ledger.probe, through
 * the hot path's own connections), a SQLite ledger's file is still where it was opened (a removed
 * or replaced file leaves the process writing to one nobody else reads), Redis answers a PING, the
 * schema has every migration this version knows, no worker of this process is closing, and every
 * queue's consumer is fetching. Each check is bounded by `timeoutMs`; none throws.
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
  checks: { database: CheckResult; redis: CheckResult; schema: CheckResult; workers: CheckResult; consumers: CheckResult };
}

/** A queue whose consumer cannot be fetching now, and why (`LedgerWorker.consumersNotFetching`). */
export interface ConsumerProblem {
  queue: string;
  reason: string;
}

export interface ReadinessSources {
  ledger: Pick<Ledger, 'probe' | 'target'>;
  redis: Pick<Redis, 'ping'>;
  /** Statuses of this process's workers (`LedgerWorker.health().status`). */
  workerStatuses: () => string[];
  /** The consumers of this process's workers that cannot be fetching. */
  consumerProblems: () => ConsumerProblem[];
  /** The migrations this version knows and the database lacks (`Ledger.pendingMigrations`). */
  pendingMigrations: () => Promise<string[]>;
  timeoutMs: number;
}

/**
 * How long a current schema is taken as still current. The migrations a process knows are fixed at
 * its start and were all applied then (`Ledger.open` refuses an older schema), so this only catches
 * a database restored or rolled back under a running process: no need to ask at every probe.
 */
const schemaRecheckMs = 60_000;

export class ReadinessCheck {
  /** The SQLite file's inode at the first check: a file put in its place is not the ledger. */
  private sqliteInode: number | undefined;
  /** When the schema was last found current (epoch ms). */
  private schemaCurrentAt: number | undefined;

  constructor(private readonly sources: ReadinessSources) {}

  async check(): Promise<Readiness> {
    const [database, redis, schema] = await Promise.all([this.database(), this.redis(), this.schema()]);
    const closing = this.sources.workerStatuses().filter((s) => s === 'closing' || s === 'closed');
    const workers: CheckResult = closing.length ? { ok: false, error: `${closing.length} worker(s) closing` } : { ok: true };
    const problems = this.sources.consumerProblems();
    const consumers: CheckResult = problems.length ? { ok: false, error: problems.map((p) => `${p.queue}: ${p.reason}`).join('; ') } : { ok: true };
    return { ready: database.ok && redis.ok && schema.ok && workers.ok && consumers.ok, checks: { database, redis, schema, workers, consumers } };
  }

  private async schema(): Promise<CheckResult> {
    const now = Date.now();
    if (this.schemaCurrentAt !== undefined && now - this.schemaCurrentAt < schemaRecheckMs) return { ok: true };
    try {
      const pending = await within(this.sources.pendingMigrations(), this.sources.timeoutMs);
      if (pending.length) return { ok: false, error: `${pending.length} migration(s) not applied: ${pending.join(', ')}` };
      this.schemaCurrentAt = now;
      return { ok: true };
    } catch (error) {
      return { ok: false, error: firstLine(error) };
    }
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
    try {
      await within(this.sources.redis.ping(), this.sources.timeoutMs);
      return { ok: true };
    } catch (error) {
      return { ok: false, error: firstLine(error) };
    }
  }
}

/** `work`, or a rejection after `timeoutMs`. */
async function within<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function firstLine(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
