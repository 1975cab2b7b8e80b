/**
 * `npm run bench:cli`: how long the `jobledger` command takes from spawn to exit, cold (a new Node
 * process each time), for `--help`, `--version` and a simple query (`jobs --limit 1` on a fresh
 * migrated SQLite ledger). Prints the median of `--runs` (default 5) per command, in ms.
 * The target on a 2-core host is under 300 ms for these; nothing asserts it (it depends on load).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const bin = fileURLToPath(new URL('../../bin/jobledger.js', import.meta.url));

function timeOnce(args: readonly string[], env: NodeJS.ProcessEnv): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.status !== 0) throw new Error(`jobledger ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return ms;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a whole number from 1, got ${values.runs}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'jobledger-cli-bench-'));
  try {
    const env = { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'ledger.sqlite')}` };
    timeOnce(['migrate'], env);
    const commands = [['--help'], ['--version'], ['jobs', '--limit', '1']];
    const figures = commands.map((args) => {
      timeOnce(args, env); // warms the file cache, not the process
      const times = Array.from({ length: runs }, () => timeOnce(args, env));
      return { command: `jobledger ${args.join(' ')}`, medianMs: Math.round(median(times)), minMs: Math.round(Math.min(...times)) };
    });
    process.stdout.write(`jobledger CLI cold start, median of ${runs} (Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)})\n`);
    for (const f of figures) process.stdout.write(`${f.command.padEnd(28)} ${String(f.medianMs).padStart(6)} ms  (min ${f.minMs} ms)\n`);
    if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
