/**
 * Fills a ledger with a large, varied history for the console's scale bench (console-scale.ts):
 * N jobs (default 1,000,000) spread over the last 30 days, about three attempts and four events
 * each, a thousand runs and a few hundred archived-looking pipelines' stage jobs. Rows go in by
 * plain multi-row statements in large transactions, not through the engine: this writes in
 * minutes what workers would write in days. The ledger is migrated first; the tables should be
 * empty (a second seed adds another N jobs beside the first).
 *
 *   node dist/bench/seed-ledger.js --jobs 1000000 --database-url sqlite:./data/scale.sqlite
 *
 * The mix: five queues, eleven job types; 88% completed, 6% failed (with one of a dozen error
 * messages), the rest running, queued, delayed or cancelled; payloads with nested fields
 * (`customer.id` a number, `customer.plan` a string, `amount`, `order.currency`, ...). Every value
 * comes from a seeded generator, so two seeds of the same size hold the same rows but for ids.
 */
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseDatabaseUrl, type DatabaseTarget } from '../src/config.js';
import { Ledger } from '../src/store/ledger.js';

const dayMs = 86_400_000;
const spanMs = 30 * dayMs;
/** Jobs written per transaction; their attempts and events go in the same one. */
const batchJobs = 5000;

const queues = ['default', 'emails', 'billing', 'reports', 'webhooks'] as const;
const typesByQueue: Record<(typeof queues)[number], string[]> = {
  default: ['thumbnail.render', 'search.reindex'],
  emails: ['email.send', 'email.digest', 'email.bounce'],
  billing: ['invoice.charge', 'invoice.refund'],
  reports: ['report.daily', 'report.export'],
  webhooks: ['webhook.deliver', 'webhook.retry'],
};
const plans = ['free', 'free', 'free', 'starter', 'pro', 'pro', 'enterprise'];
const regions = ['eu-west', 'us-east', 'us-west', 'ap-south'];
const currencies = ['EUR', 'USD', 'GBP'];
const errorMessages = [
  'connect ECONNREFUSED 10.0.3.17:5432',
  'Request failed with status code 502',
  'Request failed with status code 429: rate limited',
  'card_declined: insufficient funds',
  'SMTP 550 mailbox unavailable',
  'timeout of 30000ms exceeded',
  'Cannot read properties of undefined (reading \'email\')',
  'invoice already paid',
  'upstream webhook returned 410 Gone',
  'S3 PutObject AccessDenied',
  'ETIMEDOUT while resolving api.partner.example',
  'export too large: 5000001 rows',
];
const hosts = ['worker-a', 'worker-b', 'worker-c', 'worker-d'];

/** mulberry32: a small seeded generator, so that two seeds of one size hold the same mix. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const crockford = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** A ULID for `time`, with `prefix_`, ordered by time as the engine's ids are. */
function idAt(prefix: string, time: number, random: () => number): string {
  let out = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    out = crockford[t % 32]! + out;
    t = Math.floor(t / 32);
  }
  for (let i = 0; i < 16; i++) out += crockford[Math.floor(random() * 32)]!;
  return `${prefix}_${out}`;
}

type Value = string | number | null;
interface Batch {
  jobs: Value[][];
  attempts: Value[][];
  events: Value[][];
}

const jobColumns = [
  'id', 'queue', 'name', 'payload', 'status', 'status_reason', 'priority', 'run_id', 'pipeline_id', 'stage', 'idempotency_key',
  'max_attempts', 'backoff', 'timeout_ms', 'attempts_started', 'attempts_failed', 'current_attempt', 'progress', 'result',
  'last_error', 'run_at', 'created_at', 'dispatched_at', 'started_at', 'finished_at', 'updated_at', 'version', 'trace_context',
] as const;
const attemptColumns = ['id', 'job_id', 'number', 'status', 'worker_id', 'host', 'pid', 'started_at', 'heartbeat_at', 'finished_at', 'duration_ms', 'error'] as const;
const eventColumns = ['id', 'subject_type', 'subject_id', 'seq', 'type', 'payload', 'actor', 'created_at'] as const;
const runColumns = ['id', 'name', 'status', 'status_reason', 'metadata', 'created_at', 'updated_at', 'finished_at', 'version'] as const;

/** PostgreSQL column types, for `unnest` of one array per column. */
const pgTypes: Record<string, string> = {
  payload: 'jsonb', backoff: 'jsonb', progress: 'jsonb', result: 'jsonb', last_error: 'jsonb', error: 'jsonb', metadata: 'jsonb',
  priority: 'int', max_attempts: 'int', timeout_ms: 'int', attempts_started: 'int', attempts_failed: 'int', current_attempt: 'int',
  version: 'int', number: 'int', pid: 'int', seq: 'int',
  run_at: 'bigint', created_at: 'bigint', dispatched_at: 'bigint', started_at: 'bigint', finished_at: 'bigint', updated_at: 'bigint',
  heartbeat_at: 'bigint', duration_ms: 'bigint',
};

interface Seeder {
  insert(table: string, columns: readonly string[], rows: Value[][]): Promise<void>;
  transaction(work: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

function sqliteSeeder(path: string): Seeder {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -262144');
  const statements = new Map<string, Database.Statement>();
  const perStatement = 100;
  return {
    insert(table, columns, rows) {
      const one = `(${columns.map(() => '?').join(', ')})`;
      for (let at = 0; at < rows.length; at += perStatement) {
        const chunk = rows.slice(at, at + perStatement);
        const key = `${table}:${chunk.length}`;
        let statement = statements.get(key);
        if (!statement) {
          statement = db.prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array(chunk.length).fill(one).join(', ')}`);
          statements.set(key, statement);
        }
        statement.run(chunk.flat());
      }
      return Promise.resolve();
    },
    async transaction(work) {
      db.exec('BEGIN');
      try {
        await work();
        db.exec('COMMIT');
      } catch (error) {
        db.exec('ROLLBACK');
        throw error;
      }
    },
    close() {
      db.exec('ANALYZE');
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
      return Promise.resolve();
    },
  };
}

function postgresSeeder(url: string): Seeder {
  const client = new pg.Client({ connectionString: url });
  const connected = client.connect();
  return {
    async insert(table, columns, rows) {
      await connected;
      const arrays = columns.map((_, i) => rows.map((r) => r[i]));
      const casts = columns.map((c, i) => `$${i + 1}::${pgTypes[c] ?? 'text'}[]`);
      await client.query(`INSERT INTO ${table} (${columns.join(', ')}) SELECT * FROM unnest(${casts.join(', ')})`, arrays);
    },
    async transaction(work) {
      await connected;
      await client.query('BEGIN');
      try {
        await work();
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      }
    },
    async close() {
      await connected;
      await client.query('ANALYZE');
      await client.end();
    },
  };
}

/** The jobs of one batch, with their attempts and events. */
function makeBatch(first: number, count: number, total: number, start: number, runIds: string[], random: () => number): Batch {
  const batch: Batch = { jobs: [], attempts: [], events: [] };
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  for (let i = first; i < first + count; i++) {
    // Evenly spread, oldest first, a little jitter; the newest few minutes hold the unfinished jobs.
    const createdAt = Math.floor(start + (i / total) * spanMs + random() * 1000);
    const age = start + spanMs - createdAt;
    const queue = pick(queues);
    const name = pick(typesByQueue[queue]);
    const id = idAt('job', createdAt, random);
    const plan = pick(plans);
    const payload = {
      customer: { id: 1 + Math.floor(random() * 200_000), plan, region: pick(regions), email: `user${Math.floor(random() * 1e6)}@example.com` },
      amount: Math.round(random() * 100_000) / 100,
      order: { id: `ord_${Math.floor(random() * 1e9)}`, currency: pick(currencies), items: Math.floor(random() * 8) + 1 },
      attempt_hint: random() < 0.1 ? 'slow' : null,
    };
    const roll = random();
    const recent = age < 10 * 60_000;
    const status =
      recent && roll < 0.3 ? 'running' : recent && roll < 0.6 ? 'queued' : recent && roll < 0.7 ? 'delayed'
      : roll < 0.06 ? 'failed' : roll < 0.08 ? 'cancelled' : 'completed';
    const maxAttempts = 5;
    const attemptsCount = status === 'failed' ? maxAttempts : status === 'queued' ? 0 : status === 'cancelled' ? Math.floor(random() * 2) : 1 + Math.floor(random() * 4.6);
    const runId = random() < 0.3 ? pick(runIds) : null;
    const errorMessage = pick(errorMessages);
    const errorOf = (message: string) => JSON.stringify({ name: 'Error', message, stack: `Error: ${message}\n    at handler (file:///app/jobs/${name}.js:42:11)` });
    let at = createdAt + 5 + Math.floor(random() * 50);
    let lastError: string | null = null;
    for (let n = 1; n <= attemptsCount; n++) {
      const duration = 20 + Math.floor(random() * 2000);
      const last = n === attemptsCount;
      const attemptStatus = last && status === 'running' ? 'running' : last && status === 'completed' ? 'succeeded' : last && status === 'cancelled' ? 'cancelled' : 'failed';
      const finished = attemptStatus === 'running' ? null : at + duration;
      const error = attemptStatus === 'failed' ? errorOf(n === attemptsCount ? errorMessage : pick(errorMessages)) : null;
      if (error) lastError = error;
      batch.attempts.push([
        idAt('att', at, random), id, n, attemptStatus, `${pick(hosts)}:${1000 + (i % 50)}`, pick(hosts), 1000 + (i % 50),
        at, finished ?? at, finished, finished === null ? null : duration, error,
      ]);
      at = (finished ?? at) + 1000 * n;
    }
    const finishedAt = status === 'completed' || status === 'failed' || status === 'cancelled' ? at : null;
    const startedAt = attemptsCount > 0 ? createdAt + 5 : null;
    const types = ['job.enqueued', ...(attemptsCount > 0 ? ['job.started'] : []), ...(attemptsCount > 1 ? ['job.retry_scheduled'] : []),
      ...(status === 'completed' ? ['job.completed'] : status === 'failed' ? ['job.failed'] : status === 'cancelled' ? ['job.cancelled'] : [])];
    types.forEach((type, k) => {
      const eventAt = k === 0 ? createdAt : k === types.length - 1 && finishedAt !== null ? finishedAt : createdAt + 5 + k;
      batch.events.push([idAt('evt', eventAt, random), 'job', id, k + 1, type, type === 'job.failed' ? JSON.stringify({ reason: errorMessage }) : null, 'bench', eventAt]);
    });
    batch.jobs.push([
      id, queue, name, JSON.stringify(payload), status,
      status === 'cancelled' ? 'cancelled by operator: customer closed account' : status === 'failed' ? `failed after ${maxAttempts} attempts` : null,
      0, runId, null, null, null, maxAttempts, JSON.stringify({ type: 'exponential', delayMs: 1000 }), null,
      attemptsCount, status === 'completed' ? attemptsCount - 1 : attemptsCount, attemptsCount, null,
      status === 'completed' ? JSON.stringify({ ok: true, ms: Math.floor(random() * 2000) }) : null,
      status === 'completed' ? null : lastError,
      status === 'delayed' ? createdAt + 60_000 : createdAt, createdAt, createdAt + 2, startedAt, finishedAt, finishedAt ?? at,
      types.length, null,
    ]);
  }
  return batch;
}

function runsOf(count: number, start: number, random: () => number): Value[][] {
  const rows: Value[][] = [];
  for (let i = 0; i < count; i++) {
    const createdAt = Math.floor(start + (i / count) * spanMs);
    rows.push([idAt('run', createdAt, random), `nightly-import-${i}`, i < count - 3 ? 'completed' : 'running', null, JSON.stringify({ source: 'bench', batch: i }), createdAt, createdAt + 3_600_000, i < count - 3 ? createdAt + 3_600_000 : null, 2]);
  }
  return rows;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { jobs: { type: 'string', default: '1000000' }, 'database-url': { type: 'string' }, seed: { type: 'string', default: '1' } } });
  const total = Number(values.jobs);
  if (!Number.isSafeInteger(total) || total < 1) throw new Error(`--jobs: expected a whole number of at least 1, got ${values.jobs}`);
  const url = values['database-url'] ?? process.env.DATABASE_URL;
  if (!url) throw new Error('--database-url (or DATABASE_URL): expected sqlite:<path> or postgres://..., got nothing');
  const database: DatabaseTarget = parseDatabaseUrl(url);
  const ledger = await Ledger.open(database, { migrate: true, create: true });
  await ledger.close();

  const random = generator(Number(values.seed));
  const start = Date.now() - spanMs;
  const seeder = database.dialect === 'sqlite' ? sqliteSeeder(database.sqlitePath!) : postgresSeeder(database.url);
  const runs = runsOf(1000, start, random);
  await seeder.transaction(() => seeder.insert('runs', runColumns, runs));
  const runIds = runs.map((r) => r[0] as string);
  const began = performance.now();
  let attempts = 0;
  let events = 0;
  for (let first = 0; first < total; first += batchJobs) {
    const batch = makeBatch(first, Math.min(batchJobs, total - first), total, start, runIds, random);
    await seeder.transaction(async () => {
      await seeder.insert('jobs', jobColumns, batch.jobs);
      await seeder.insert('attempts', attemptColumns, batch.attempts);
      await seeder.insert('events', eventColumns, batch.events);
    });
    attempts += batch.attempts.length;
    events += batch.events.length;
    const done = first + batch.jobs.length;
    if (done % 100_000 < batchJobs || done === total) {
      process.stderr.write(`${done} jobs, ${attempts} attempts, ${events} events, ${((performance.now() - began) / 1000).toFixed(0)} s\n`);
    }
  }
  await seeder.close();
  const seconds = (performance.now() - began) / 1000;
  console.log(JSON.stringify({ dialect: database.dialect, jobs: total, attempts, events, runs: runs.length, seconds: Math.round(seconds) }));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
