/**
 * `npm run bench`: bare BullMQ and jobledger on SQLite and PostgreSQL, side by side, in one run on
 * one host; `npm run bench:memory`: a jobledger worker's memory after N/10 and N jobs.
 * Progress goes to stderr; the table (and with --json, one JSON object as the last line) to stdout.
 * See backend-run.ts for exactly what each figure times.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { runBackend, type RunFigures } from './backend-run.js';
import { killLiveChildren } from './child-handle.js';
import { interrupt } from './interrupt.js';
import { formatMemory, runMemory } from './memory.js';
import { formatSearchIndex, runSearchIndex } from './search-index.js';
import { parseOptions, usesPostgres, type BackendName, type BenchOptions } from './options.js';
import { wallNow } from './protocol.js';
import { formatObservability, observabilityJson, summariseObservability } from './observability-report.js';
import { formatMethod, formatRoundRatios, formatTable, formatWarnings, jsonReport, summarise } from './report.js';
import { runPendingCleanups, serverVersions } from './services.js';

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void abandon(`interrupted (${signal})`, 130));
  const began = wallNow();
  const machine = await describeMachine(options);
  const out = process.stdout;

  if (options.memory) {
    const report = await runMemory(options);
    out.write(`\njobledger bench --memory: one worker, SQLite ledger, ${machineLine(machine)}\n\n${formatMemory(report)}\n`);
    machine.loadAvg1mAtEnd = loadAvg();
    if (options.json) out.write(`${JSON.stringify({ memory: report, machine, elapsedS: Math.round((wallNow() - began) / 1000) })}\n`);
    return;
  }

  if (options.search) {
    const figures = await runSearchIndex(options);
    out.write(`\njobledger bench --search: the full-text search indexer over ${options.jobs} jobs, ${machineLine(machine)}\n\n${formatSearchIndex(figures)}\n`);
    machine.loadAvg1mAtEnd = loadAvg();
    out.write(`Load average (1 min) ${machine.loadAvg1mAtStart} at the start, ${machine.loadAvg1mAtEnd} at the end.\n`);
    if (options.json) out.write(`${JSON.stringify({ search: figures, machine, elapsedS: Math.round((wallNow() - began) / 1000) })}\n`);
    return;
  }

  const results = new Map<BackendName, RunFigures[]>(options.backends.map((b) => [b, []]));
  // Bare BullMQ opens every round, and with a jobledger backend to compare runs once more at the
  // end, so each jobledger run sits between two bare runs (report.ts compares it with their mean).
  const inRound = [...options.backends].sort((a, b) => Number(b === 'bare') - Number(a === 'bare'));
  // --metrics: each jobledger backend also runs with metrics and tracing on, beside its plain run
  // (which alone goes into the main table), off first in odd rounds and on first in even ones.
  const observed = new Map<BackendName, RunFigures[]>(
    options.metrics ? options.backends.filter((b) => b === 'sqlite' || b === 'postgres').map((b) => [b, []]) : [],
  );
  for (let round = 1; round <= options.runs; round++) {
    const label = `[round ${round}/${options.runs}]`;
    for (const backend of inRound) {
      const onRuns = observed.get(backend);
      if (onRuns && round % 2 === 0) onRuns.push(await runBackend(backend, options, label, true));
      results.get(backend)!.push(await runBackend(backend, options, label));
      if (onRuns && round % 2 === 1) onRuns.push(await runBackend(backend, options, label, true));
    }
  }
  if (inRound[0] === 'bare' && inRound.length > 1) {
    results.get('bare')!.push(await runBackend('bare', options, '[closing bare run]'));
  }
  const summary = summarise(results);
  const elapsedS = (wallNow() - began) / 1000;
  machine.loadAvg1mAtEnd = loadAvg();
  const warnings = formatWarnings(summary, options).map((w) => `${w}\n\n`).join('');
  out.write(
    `\njobledger bench: ${options.jobs} no-op jobs, concurrency ${options.concurrency}, ${options.runs} round(s), ${machineLine(machine)}\n\n`,
  );
  const roundRatios = formatRoundRatios(summary, options.backends);
  const overhead = summariseObservability(results, observed);
  const overheadTable = formatObservability(overhead);
  out.write(
    `${formatTable(summary, options.backends)}\n\n${roundRatios ? `${roundRatios}\n\n` : ''}${overheadTable ? `${overheadTable}\n\n` : ''}` +
      `${warnings}${formatMethod(options)}\n\n`,
  );
  out.write(`Took ${elapsedS.toFixed(0)} s; load average (1 min) ${machine.loadAvg1mAtStart} at the start, ${machine.loadAvg1mAtEnd} at the end.\n`);
  if (options.json) {
    const report = jsonReport(summary, options, machine, elapsedS) as Record<string, unknown>;
    out.write(`${JSON.stringify(observed.size ? { ...report, observability: observabilityJson(overhead) } : report)}\n`);
  }
}

async function describeMachine(options: BenchOptions): Promise<Record<string, string | number>> {
  const cpus = os.cpus();
  const withPostgres = options.backends.some(usesPostgres) && !options.memory;
  return {
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    // Other work on the machine skews every figure; the load average says whether there was any.
    loadAvg1mAtStart: loadAvg(),
    platform: `${os.platform()} ${os.release()}`,
    ...(await serverVersions(options.redisUrl, withPostgres ? options.postgresAdminUrl : undefined)),
    ...(options.backends.includes('pgboss') && !options.memory ? { pgboss: pgbossVersion() } : {}),
  };
}

/** The installed pg-boss's version (its package.json sits one folder above its entry file). */
function pgbossVersion(): string {
  const entry = createRequire(import.meta.url).resolve('pg-boss');
  return (JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string }).version;
}

function loadAvg(): number {
  return Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
}

function machineLine(machine: Record<string, string | number>): string {
  const servers = [
    `Redis ${machine.redis}`,
    ...(machine.postgres ? [`PostgreSQL ${machine.postgres}`] : []),
    ...(machine.pgboss ? [`pg-boss ${machine.pgboss}`] : []),
  ].join(', ');
  return `${machine.cpus} CPUs, Node ${machine.node}, ${servers}`;
}

let abandoning = false;

/** Leaves nothing behind: kills worker children, removes Redis keys and databases, exits. */
async function abandon(reason: string, exitCode: number): Promise<void> {
  if (abandoning) return;
  abandoning = true;
  process.stderr.write(`bench: ${reason}; cleaning up\n`);
  interrupt(reason);
  // What the interrupted phase still had in flight fails now; that is expected, not news.
  process.on('unhandledRejection', () => undefined);
  killLiveChildren();
  await runPendingCleanups();
  process.exit(exitCode);
}

main().catch((error: unknown) => void abandon(error instanceof Error ? (error.stack ?? error.message) : String(error), 1));
