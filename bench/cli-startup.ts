/**
 * `npm run bench:cli`: how long the `jobledger` command takes from spawn to exit, cold (a new Node
 * process each time), for `--help`, `--version` and a simple query (`jobs --limit 1` on a fresh
 * migrated SQLite ledger), and the query once more without Node's compile cache (Node 22.1 and
 * later; `NODE_DISABLE_COMPILE_CACHE=1`). Prints per command the median and the minimum wall time
 * of `--runs` (default 5) and, on Linux, the median CPU time (user + system) of the process, which
 * other load on the host changes less than wall time. The compile cache lives in the run's own
 * directory: the unmeasured first run of each command fills it.
 * The target on a 2-core host is under 300 ms for these; nothing asserts it (it depends on load).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const bin = fileURLToPath(new URL('../../bin/jobledger.js', import.meta.url));

/** Linux's clock ticks per second for /proc times (USER_HZ, 100 on every common kernel). */
const ticksPerSecond = 100;

/** CPU time of this process's waited-for children so far, in ms; undefined where /proc has none. */
function childrenCpuMs(): number | undefined {
  try {
    // Fields after the command name (which may hold spaces, in parentheses): cutime and cstime are
    // the 14th and 15th of them.
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[13]) + Number(fields[14])) * 1000) / ticksPerSecond;
  } catch {
    return undefined;
  }
}

function timeOnce(args: readonly string[], env: NodeJS.ProcessEnv): { wallMs: number; cpuMs: number | undefined } {
  const cpuBefore = childrenCpuMs();
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpuAfter = childrenCpuMs();
  if (result.status !== 0) throw new Error(`jobledger ${args.join(' ')} exited ${result.status}: ${result.stderr.trim()}`);
  return { wallMs, cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Figure {
  command: string;
  medianMs: number;
  minMs: number;
  medianCpuMs: number | null;
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, json: { type: 'boolean', default: false } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: expected a whole number from 1, got ${values.runs}`);
  const dir = mkdtempSync(join(os.tmpdir(), 'jobledger-cli-bench-'));
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: `sqlite:${join(dir, 'ledger.sqlite')}`, NODE_COMPILE_CACHE: join(dir, 'compile-cache') };
    delete env.NODE_DISABLE_COMPILE_CACHE;
    timeOnce(['migrate'], env);
    const cases: { label: string; args: string[]; env: NodeJS.ProcessEnv }[] = [
      { label: '--help', args: ['--help'], env },
      { label: '--version', args: ['--version'], env },
      { label: 'jobs --limit 1', args: ['jobs', '--limit', '1'], env },
      { label: 'jobs --limit 1 (no compile cache)', args: ['jobs', '--limit', '1'], env: { ...env, NODE_DISABLE_COMPILE_CACHE: '1' } },
    ];
    const figures: Figure[] = cases.map((c) => {
      timeOnce(c.args, c.env); // warms the file cache and the compile cache, not the process
      const times = Array.from({ length: runs }, () => timeOnce(c.args, c.env));
      const cpu = times.flatMap((t) => (t.cpuMs === undefined ? [] : [t.cpuMs]));
      return {
        command: `jobledger ${c.label}`,
        medianMs: Math.round(median(times.map((t) => t.wallMs))),
        minMs: Math.round(Math.min(...times.map((t) => t.wallMs))),
        medianCpuMs: cpu.length ? Math.round(median(cpu)) : null,
      };
    });
    process.stdout.write(`jobledger CLI cold start, median of ${runs} (Node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(2)})\n`);
    for (const f of figures) {
      const cpu = f.medianCpuMs === null ? '' : `  cpu ${String(f.medianCpuMs).padStart(5)} ms`;
      process.stdout.write(`${f.command.padEnd(44)} ${String(f.medianMs).padStart(6)} ms  (min ${f.minMs} ms)${cpu}\n`);
    }
    if (values.json) process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
