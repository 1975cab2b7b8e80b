/**
 * Export throughput and memory (`npm run bench:export`): for each N, seeds a fresh ledger with N
 * jobs (seed-ledger.ts: about three attempts and four events each, 30 days of history), then runs
 * `jobledger export --format ndjson` to stdout in a child process, as an operator would, and reads
 * its output here. Reports the records and bytes written, jobs/s, the exporter's CPU time, its
 * peak RSS (the kernel's count, from export-rss-probe.ts, with its largest V8 heap) and its RSS sampled every 250 ms as the
 * records came, at a tenth, half and all of them: a streamed export's RSS stays flat as N grows.
 *
 *   npm run bench:export -- [--jobs 100000,1000000] [--backends sqlite,postgresql]
 *     [--postgres-url postgres://postgres@127.0.0.1:5432/postgres] [--exporter-max-old-space-mib 128]
 *
 * SQLite: a fresh file per N in a temporary directory (removed after). PostgreSQL: a database
 * `jobledger_bench_export_<pid>_<N>` created beside the one --postgres-url names, dropped after.
 * --exporter-max-old-space-mib runs the exporter with `node --max-old-space-size=N`: V8 then
 * collects its garbage sooner, trading CPU for a lower peak RSS.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

const mib = 1024 * 1024;
const sampleMs = 250;

interface Sample {
  seconds: number;
  records: number;
  rssMiB: number;
}

interface ExportFigures {
  dialect: 'sqlite' | 'postgresql';
  jobs: number;
  seeded: { attempts: number; events: number; seconds: number };
  exported: { records: number; attempts: number; events: number; bytes: number; seconds: number; jobsPerSecond: number; mibPerSecond: number };
  exporterCpuSeconds: number;
  cpuMsPerThousandJobs: number;
  peakRssMiB: number;
  /** The largest V8 heap (committed, used) and external (buffers, SQLite's) memory seen, sampled in the exporter every 100 ms. */
  peakHeapMiB: { total: number; used: number; external: number };
  /** Sampled RSS when a tenth, half and all of the records had arrived. */
  rssMiB: { atTenth: number; atHalf: number; atEnd: number };
  /** The exporter's `--max-old-space-size`, or null for V8's default. */
  exporterMaxOldSpaceMiB: number | null;
  loadAverage: number[];
}

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

function seed(jobs: number, url: string): { attempts: number; events: number; seconds: number } {
  const out = execFileSync(process.execPath, [here('./seed-ledger.js'), '--jobs', String(jobs), '--database-url', url], {
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  const report = JSON.parse(out.trim().split('\n').at(-1)!) as { attempts: number; events: number; seconds: number };
  return { attempts: report.attempts, events: report.events, seconds: report.seconds };
}

function rssOf(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : null;
  } catch {
    return null; // exited
  }
}

/** Runs the export of every job to stdout in a child and measures it. */
async function measureExport(url: string, scratch: string, maxOldSpaceMiB: number | null): Promise<Omit<ExportFigures, 'dialect' | 'jobs' | 'seeded' | 'loadAverage' | 'exporterMaxOldSpaceMiB'>> {
  const probeFile = join(scratch, `probe-${Date.now()}.json`);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_') && name !== 'DATABASE_URL'));
  const began = performance.now();
  const heap = maxOldSpaceMiB === null ? [] : [`--max-old-space-size=${maxOldSpaceMiB}`];
  const child = spawn(process.execPath, [...heap, '--import', here('./export-rss-probe.js'), here('../../bin/jobledger.js'), 'export', '--format', 'ndjson'], {
    env: { ...inherited, DATABASE_URL: url, LOG_LEVEL: 'silent', JOBLEDGER_ARCHIVE_DIR: join(scratch, 'archive'), BENCH_EXPORT_PROBE_FILE: probeFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let records = 0;
  let bytes = 0;
  let stderr = '';
  const samples: Sample[] = [];
  child.stdout.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) records += 1;
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const sampler = setInterval(() => {
    const rss = rssOf(child.pid!);
    if (rss !== null) samples.push({ seconds: (performance.now() - began) / 1000, records, rssMiB: rss });
  }, sampleMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(sampler);
  const seconds = (performance.now() - began) / 1000;
  if (code !== 0) throw new Error(`jobledger export exited with ${code}: ${stderr.trim()}`);
  const counts = /exported (\d+) jobs? \((\d+) attempts, (\d+) events\)/.exec(stderr);
  if (!counts) throw new Error(`jobledger export printed no counts: ${stderr.trim()}`);
  const probe = JSON.parse(readFileSync(probeFile, 'utf8')) as {
    maxRssKiB: number;
    userCpuUs: number;
    systemCpuUs: number;
    peak: { heapTotal: number; heapUsed: number; external: number };
  };
  const at = (fraction: number) => round(samples.find((s) => s.records >= fraction * records)?.rssMiB ?? samples.at(-1)?.rssMiB ?? 0);
  const cpuSeconds = (probe.userCpuUs + probe.systemCpuUs) / 1e6;
  return {
    exported: {
      records, attempts: Number(counts[2]), events: Number(counts[3]), bytes, seconds: round(seconds),
      jobsPerSecond: Math.round(records / seconds), mibPerSecond: round(bytes / mib / seconds),
    },
    exporterCpuSeconds: round(cpuSeconds),
    cpuMsPerThousandJobs: round((cpuSeconds * 1e6) / records),
    peakRssMiB: round(probe.maxRssKiB / 1024),
    peakHeapMiB: { total: round(probe.peak.heapTotal / mib), used: round(probe.peak.heapUsed / mib), external: round(probe.peak.external / mib) },
    rssMiB: { atTenth: at(0.1), atHalf: at(0.5), atEnd: round(samples.at(-1)?.rssMiB ?? 0) },
  };
}

async function withPostgresDatabase<T>(base: string, name: string, work: (url: string) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    try {
      return await work(url.toString());
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  } finally {
    await admin.end();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      jobs: { type: 'string', default: '100000,1000000' },
      backends: { type: 'string', default: 'sqlite' },
      'postgres-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
      'exporter-max-old-space-mib': { type: 'string' },
    },
  });
  const wholeNumbers = (name: string, raw: string) =>
    raw.split(',').map((part) => {
      const n = Number(part);
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name}: expected whole numbers of at least 1, separated by commas, got ${raw}`);
      return n;
    });
  const sizes = wholeNumbers('jobs', values.jobs);
  const backends = values.backends.split(',');
  const unknown = backends.find((b) => b !== 'sqlite' && b !== 'postgresql');
  if (unknown !== undefined) throw new Error(`--backends: expected sqlite and/or postgresql, got ${unknown}`);
  const maxOldSpace = values['exporter-max-old-space-mib'] === undefined ? null : wholeNumbers('exporter-max-old-space-mib', values['exporter-max-old-space-mib'])[0]!;
  const scratch = mkdtempSync(join(tmpdir(), 'jobledger-bench-export-'));
  const run = async (dialect: ExportFigures['dialect'], jobs: number, url: string): Promise<void> => {
    const seeded = seed(jobs, url);
    const measured = await measureExport(url, scratch, maxOldSpace);
    const figures: ExportFigures = { dialect, jobs, seeded, ...measured, exporterMaxOldSpaceMiB: maxOldSpace, loadAverage: loadavg().map(round) };
    console.log(JSON.stringify(figures));
  };
  try {
    if (backends.includes('sqlite')) {
      for (const jobs of sizes) {
        const file = join(scratch, `ledger-${jobs}.sqlite`);
        await run('sqlite', jobs, `sqlite:${file}`);
        rmSync(file, { force: true });
      }
    }
    if (backends.includes('postgresql')) {
      for (const jobs of sizes) {
        await withPostgresDatabase(values['postgres-url'], `jobledger_bench_export_${process.pid}_${jobs}`, (url) => run('postgresql', jobs, url));
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
});
