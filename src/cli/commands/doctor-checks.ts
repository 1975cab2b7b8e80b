/**
 * The checks of `jobledger doctor` (commands/doctor.ts), in their own module so that the CLI loads
 * Redis, the ledger and the worker health format only when doctor runs.
 */
import { describeDatabase, type Config } from '../../config.js';
import { redactText } from '../../log-redaction.js';
import { maskUrl, urlSecrets } from '../../mask-url.js';
import { checkRedis, describeRedisTarget, type Redis, type RedisTarget } from '../../transport/redis-connection.js';
import { readRedisConfig } from '../../transport/redis-policy.js';
import { prefixOwnerKey, readPrefixOwner } from '../../transport/prefix-claim.js';
import { Ledger } from '../../store/index.js';
import { parseHealth, workersHealthKey, type PublishedHealth } from '../../workers/consumer-watchdog.js';
import { openingDatabase } from '../context.js';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Check {
  check: string;
  verdict: Verdict;
  detail: string;
}

/** Who holds the prefix (see transport/prefix-claim.ts); `undefined` when Redis could not be asked. */
type Owner = Awaited<ReturnType<typeof readPrefixOwner>> | undefined;

async function checkRedisSettings(target: RedisTarget, prefix: string, checks: Check[]): Promise<Owner> {
  const url = describeRedisTarget(target);
  let redis;
  try {
    redis = await checkRedis(target);
  } catch (error) {
    checks.push({ check: 'redis reachable', verdict: 'fail', detail: safeMessage(error, url) });
    return undefined;
  }
  try {
    checks.push({ check: 'redis reachable', verdict: 'ok', detail: maskUrl(url) });
    const policy = await configGet(redis, 'maxmemory-policy');
    if (policy === undefined) checks.push({ check: 'redis maxmemory-policy', verdict: 'warn', detail: 'CONFIG GET is not allowed; cannot check' });
    else if (policy !== 'noeviction') {
      checks.push({ check: 'redis maxmemory-policy', verdict: 'fail', detail: `${policy}: Redis may evict queued jobs; set noeviction` });
    } else checks.push({ check: 'redis maxmemory-policy', verdict: 'ok', detail: 'noeviction' });
    const appendonly = await configGet(redis, 'appendonly');
    const save = await configGet(redis, 'save');
    if (appendonly === 'no' && (save === '' || save === undefined)) {
      checks.push({
        check: 'redis persistence',
        verdict: 'warn',
        detail: 'none (no AOF, no RDB): a Redis restart forgets queued jobs until the ledger hands them over again',
      });
    } else checks.push({ check: 'redis persistence', verdict: 'ok', detail: `appendonly=${appendonly ?? '?'} save="${save ?? '?'}"` });
    await checkWorkers(redis, prefix, checks);
    return await readPrefixOwner(redis, prefix).catch(() => undefined);
  } finally {
    redis.disconnect();
  }
}

async function checkLedger(config: Readonly<Config>, checks: Check[], owner: Owner): Promise<void> {
  let ledger: Ledger;
  try {
    ledger = await openingDatabase(config, () => Ledger.open(config.database, { skipSchemaCheck: true, create: false }));
  } catch (error) {
    checks.push({ check: 'database reachable', verdict: 'fail', detail: safeMessage(error, config.database.url) });
    return;
  }
  try {
    checks.push({ check: 'database reachable', verdict: 'ok', detail: describeDatabase(config.database) });
    const pending = await ledger.pendingMigrations();
    if (pending.length) {
      checks.push({ check: 'schema current', verdict: 'fail', detail: `${pending.length} pending: ${pending.join(', ')}; run "jobledger migrate"` });
      return;
    }
    checks.push({ check: 'schema current', verdict: 'ok', detail: 'all migrations applied' });
    if (owner !== undefined) checks.push(prefixOwnerCheck(config.redisPrefix, owner, await ledger.identity(), describeDatabase(config.database)));
    const undispatched = await ledger.countUndispatched(Math.max(config.relayGraceMs, 5000));
    checks.push({
      check: 'outbox',
      verdict: undispatched ? 'warn' : 'ok',
      detail: undispatched ? `${undispatched} committed job(s) not in Redis yet; a running worker's relay hands them over` : 'empty',
    });
    const pastLock = await ledger.countAttemptsPastLock(config.lockDurationMs);
    checks.push({
      check: 'running attempts',
      verdict: pastLock ? 'warn' : 'ok',
      detail: pastLock ? `${pastLock} attempt(s) running with no heartbeat for over ${config.lockDurationMs} ms (worker gone?)` : 'all heartbeating',
    });
    checks.push(await checkJobTypesServed(ledger));
  } finally {
    await ledger.close();
  }
}

/** Whether this ledger owns its Redis prefix (transport/prefix-claim.ts). */
function prefixOwnerCheck(prefix: string, owner: NonNullable<Owner> | null, identity: string, database: string): Check {
  const check = 'redis prefix owner';
  if (owner === null) return { check, verdict: 'ok', detail: `"${prefix}" not claimed yet (this ledger, ${identity}, claims it when a worker or producer starts)` };
  if (owner === 'unreadable') return { check, verdict: 'fail', detail: `"${prefix}" holds an unreadable claim (${prefixOwnerKey(prefix)})` };
  if (owner.ledger === identity) return { check, verdict: 'ok', detail: `"${prefix}" belongs to this ledger, ${identity} (${database})` };
  return {
    check,
    verdict: 'fail',
    detail: `"${prefix}" belongs to ledger ${owner.ledger} (${owner.database}), not to this one, ${identity} (${database}): set JOBLEDGER_REDIS_PREFIX to a prefix of its own`,
  };
}

/**
 * Jobs waiting for a job type no worker that met them serves: a worker handed each back for not
 * knowing its type (its `job.type_unknown` event) and none has started it since.
 */
async function checkJobTypesServed(ledger: Ledger): Promise<Check> {
  const limit = 100;
  const waiting = await ledger.findJobsAwaitingType(limit);
  if (waiting.length === 0) return { check: 'job types served', verdict: 'ok', detail: 'no job handed back for an unknown type' };
  const byName = new Map<string, typeof waiting>();
  for (const job of waiting) byName.set(job.name, [...(byName.get(job.name) ?? []), job]);
  const listed = [...byName].map(([name, jobs]) => {
    const shown = jobs.slice(0, 3).map((j) => j.jobId).join(', ');
    return `${name}: ${jobs.length}${jobs.length === limit ? '+' : ''} job(s) (${shown}${jobs.length > 3 ? ', ...' : ''}), last handed back by ${jobs[0]!.handedBackBy}`;
  });
  return {
    check: 'job types served',
    verdict: 'warn',
    detail: `waiting for a worker that knows their type (start one with these job types): ${listed.join('; ')}`,
  };
}

/** An error's message for the report: URLs masked, the configured password never shown. */
function safeMessage(error: unknown, url: string): string {
  return redactText(error instanceof Error ? error.message : String(error), urlSecrets(url));
}

async function configGet(redis: Redis, key: string): Promise<string | undefined> {
  return readRedisConfig(redis, key).catch(() => undefined);
}

/**
 * What running workers published (workers/consumer-watchdog.ts): one row per worker. Ages are
 * measured on Redis's clock, which stamped each report; a worker's own times (its last fetch) are
 * compared only with each other.
 */
async function checkWorkers(redis: Redis, prefix: string, checks: Check[]): Promise<void> {
  const entries = Object.entries(await redis.hgetall(workersHealthKey(prefix)));
  if (entries.length === 0) {
    checks.push({ check: 'workers', verdict: 'ok', detail: 'none reporting (no worker running, or JOBLEDGER_WATCHDOG_INTERVAL_MS=0)' });
    return;
  }
  const [seconds, micros] = await redis.time();
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  for (const [workerId, value] of entries.sort(([a], [b]) => a.localeCompare(b))) {
    const health = parseHealth(value);
    if (!health) {
      checks.push({ check: `worker ${workerId}`, verdict: 'warn', detail: 'unreadable health entry' });
      continue;
    }
    checks.push({ check: `worker ${workerId}`, ...workerVerdict(health, now) });
  }
}

function workerVerdict(health: PublishedHealth, now: number): Omit<Check, 'check'> {
  const age = now - health.reportedAt;
  if (age > 3 * health.watchdogIntervalMs) {
    return {
      verdict: 'warn',
      detail: `no report for ${Math.round(age / 1000)} s (process gone? its running attempts are recovered as stalled)`,
    };
  }
  const problems: string[] = [];
  const queues = health.queues.map((q) => {
    const sinceFetch = q.lastFetchAt === null || health.checkedAt === null ? 'never fetched' : `last fetch ${Math.round((health.checkedAt - q.lastFetchAt) / 1000)} s before the report`;
    if (q.idleWithWorkMs >= 2 * health.watchdogIntervalMs) problems.push(`${q.queue}: ${q.waiting ?? '?'} waiting, nothing fetched for ${q.idleWithWorkMs} ms`);
    if (q.connection !== 'ready') problems.push(`${q.queue}: connection ${q.connection}`);
    if (q.lastReplacement) problems.push(`${q.queue}: consumer replaced ${q.replacements}x, last because ${q.lastReplacement.reason}`);
    return `${q.queue} ${q.running}/${q.concurrency} running, ${q.waiting ?? '?'} waiting, ${sinceFetch}`;
  });
  if (health.redis === 'unreachable') problems.push('Redis did not answer its last check');
  // Entries published before the database probe existed have no `database`.
  const database = health.database as PublishedHealth['database'] | undefined;
  if (database?.state === 'unreachable') {
    const since = database.unreachableSince !== null && database.checkedAt !== null ? ` for ${Math.round((database.checkedAt - database.unreachableSince) / 1000)} s` : '';
    problems.push(`database unreachable${since} (${database.error ?? 'no answer'}): not ready`);
  }
  const detail = `${health.host} pid ${health.pid}: ${queues.join('; ')}${problems.length ? ` | ${problems.join('; ')}` : ''}`;
  return { verdict: health.status === 'ok' && problems.length === 0 ? 'ok' : 'warn', detail };
}

/** Every check, Redis's first, in the order the report lists them. */
export async function runChecks(config: Readonly<Config>): Promise<Check[]> {
  const checks: Check[] = [];
  const owner = await checkRedisSettings(config, config.redisPrefix, checks);
  await checkLedger(config, checks, owner);
  return checks;
}
