/**
 * How fast the console's API answers over a large ledger (one seeded by seed-ledger.ts): every
 * route behind a page, through Fastify's `inject` in this process (no socket: what is timed is the
 * route, its queries and the JSON it sends). Each route is asked `--repeat` times after two
 * warm-up requests; the table gives the first (cold) request, p50, p95 and the slowest of the
 * repeats, and the last line is the same as JSON.
 *
 *   DATABASE_URL=sqlite:./data/scale.sqlite npm run bench:console -- --repeat 30
 *
 * The ledger is migrated first (the console's indexes are built then, if missing). Job ids, a run
 * and the cursors of deep pages are read from the ledger itself, so any seeded ledger will do.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { createConsole } from '../src/console/index.js';
import { JobLedger } from '../src/index.js';

interface Case {
  name: string;
  /** The URL of the i-th request (most ask the same one each time; detail pages vary the id). */
  url: (i: number) => string;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { repeat: { type: 'string', default: '30' }, 'database-url': { type: 'string' }, only: { type: 'string' } } });
  const repeat = Number(values.repeat);
  const url = values['database-url'] ?? process.env.DATABASE_URL;
  if (!url) throw new Error('--database-url (or DATABASE_URL): expected sqlite:<path> or postgres://..., got nothing');
  const config = loadConfig({}, { ...process.env, DATABASE_URL: url, LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' });
  const jl = await JobLedger.open({ jobs: [], migrate: true, config });
  const app = createConsole({ jl, tokens: [] });
  await app.ready();

  interface Answer {
    code?: string;
    items?: unknown[];
    next?: string | null;
  }
  const get = async (path: string): Promise<{ status: number; body: Answer }> => {
    const response = await app.inject({ method: 'GET', url: path });
    return { status: response.statusCode, body: response.json<Answer>() };
  };
  // Reference points from the ledger: its time span, jobs to open, a run, cursors deep in the list.
  const newest = (await jl.ledger.listJobs({ limit: 1 })).at(0);
  if (!newest) throw new Error(`the ledger at ${url} holds no jobs: seed it first (bench/seed-ledger.ts)`);
  const first = (await jl.ledger.read((sql) => sql.all('SELECT MIN(created_at) AS t FROM jobs')))[0]!.t;
  const span = { from: Number(first), to: newest.createdAt };
  const middle = Math.floor((span.from + span.to) / 2);
  const deep = String((await get(`/api/jobs?until=${middle}&limit=1`)).body.next);
  const deepFailed = String((await get(`/api/jobs?status=failed&until=${middle}&limit=1`)).body.next);
  const sample = (await jl.ledger.read((sql) => sql.all(`SELECT id FROM jobs WHERE created_at >= ? ORDER BY created_at LIMIT 200`, [middle]))).map((r) => String(r.id));
  const runId = (await jl.ledger.listRuns({ limit: 1 }))[0]?.id;
  const day = { since: span.to - 3 * 86_400_000, until: span.to - 2 * 86_400_000 };

  const cases: Case[] = [
    { name: 'overview', url: () => '/api/overview' },
    { name: 'jobs: first page', url: () => '/api/jobs' },
    { name: 'jobs: deep keyset page', url: () => `/api/jobs?before=${deep}` },
    { name: 'jobs: status=failed', url: () => '/api/jobs?status=failed' },
    { name: 'jobs: status=failed, deep page', url: () => `/api/jobs?status=failed&before=${deepFailed}` },
    { name: 'jobs: status=running', url: () => '/api/jobs?status=running' },
    { name: 'jobs: status=cancelled,delayed', url: () => '/api/jobs?status=cancelled,delayed' },
    { name: 'jobs: name=invoice.refund', url: () => '/api/jobs?name=invoice.refund' },
    { name: 'jobs: queue=billing', url: () => '/api/jobs?queue=billing' },
    { name: 'jobs: queue + status=failed', url: () => '/api/jobs?queue=billing&status=failed' },
    ...(runId ? [{ name: 'jobs: run', url: () => `/api/jobs?run=${runId}` }] : []),
    { name: 'jobs: one day (since, until)', url: () => `/api/jobs?since=${day.since}&until=${day.until}` },
    { name: 'jobs: q customer.plan (string)', url: () => `/api/jobs?q=${encodeURIComponent('payload.customer.plan=enterprise')}` },
    { name: 'jobs: q customer.id (number)', url: (i) => `/api/jobs?q=${encodeURIComponent(`payload.customer.id=${1000 + i}`)}` },
    { name: 'jobs: q + status=failed', url: () => `/api/jobs?status=failed&q=${encodeURIComponent('payload.customer.plan=pro')}` },
    { name: 'jobs: error text', url: () => `/api/jobs?error=${encodeURIComponent('card_declined')}` },
    { name: 'jobs: error text, no match', url: () => `/api/jobs?error=${encodeURIComponent('no such error anywhere')}` },
    { name: 'job detail', url: (i) => `/api/jobs/${sample[i % sample.length]}` },
    { name: 'runs', url: () => '/api/runs' },
    ...(runId ? [{ name: 'run detail', url: () => `/api/runs/${runId}` }] : []),
    { name: 'pipelines: live', url: () => '/api/pipelines' },
    { name: 'pipelines: archived', url: () => '/api/pipelines?archived=true' },
    { name: 'events: first page', url: () => '/api/events' },
    { name: 'events: type=job.failed', url: () => '/api/events?type=job.failed' },
    { name: 'events: type=job.completed', url: () => '/api/events?type=job.completed' },
    { name: 'events: one job', url: (i) => `/api/events?subjectType=job&subject=${sample[i % sample.length]}` },
  ];

  const results: { route: string; first: number; p50: number; p95: number; max: number; items: number | null; note?: string }[] = [];
  for (const c of cases) {
    if (values.only && !c.name.includes(values.only)) continue;
    const times: number[] = [];
    let items: number | null = null;
    let note: string | undefined;
    let first = NaN;
    for (let i = -2; i < repeat; i++) {
      const started = performance.now();
      const response = await get(c.url(Math.max(i, 0)));
      const ms = performance.now() - started;
      if (response.status !== 200) {
        note = `${response.status} ${response.body.code ?? ''}`.trim();
        break;
      }
      if (i === -2) first = ms;
      if (i >= 0) times.push(ms);
      if (Array.isArray(response.body.items)) items = response.body.items.length;
    }
    times.sort((a, b) => a - b);
    const row = times.length
      ? { route: c.name, first: round(first), p50: round(percentile(times, 50)), p95: round(percentile(times, 95)), max: round(times.at(-1)!), items }
      : { route: c.name, first: round(first), p50: NaN, p95: NaN, max: NaN, items };
    results.push(note ? { ...row, note } : row);
    const flag = row.p95 > 150 ? '  over 150 ms' : '';
    console.log(`${c.name.padEnd(36)} first ${fmt(row.first)}  p50 ${fmt(row.p50)}  p95 ${fmt(row.p95)}  max ${fmt(row.max)}  items ${String(items ?? '-').padStart(3)}${note ? `  ${note}` : flag}`);
  }
  const [counts] = await jl.ledger.read((sql) =>
    sql.all('SELECT (SELECT COUNT(*) FROM jobs) AS jobs, (SELECT COUNT(*) FROM attempts) AS attempts, (SELECT COUNT(*) FROM events) AS events'),
  );
  console.log(JSON.stringify({ dialect: jl.ledger.dialect, jobs: Number(counts!.jobs), attempts: Number(counts!.attempts), events: Number(counts!.events), repeat, results }));
  await app.close();
  await jl.close();
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
const fmt = (ms: number): string => `${ms.toFixed(1).padStart(7)} ms`;

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
