/**
 * Where the time goes: summarises V8 CPU profiles (`npm run bench -- --profile-dir DIR` writes one
 * per worker child) by self time, per function and per package.
 *   node dist/bench/profile-summary.js DIR-or-file.cpuprofile ... [--top N]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time in microseconds per function and per package, over every given profile. */
export function selfTimes(profiles: readonly CpuProfile[]): { functions: Map<string, number>; packages: Map<string, number>; totalUs: number } {
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let totalUs = 0;
  for (const profile of profiles) {
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    profile.samples.forEach((id, i) => {
      const node = byId.get(id);
      const us = profile.timeDeltas[i] ?? 0;
      if (!node) return;
      totalUs += us;
      const frame = node.callFrame;
      const name = `${frame.functionName || '(anonymous)'} ${shortUrl(frame.url)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
      add(functions, name, us);
      add(packages, packageOf(frame.url, frame.functionName), us);
    });
  }
  return { functions, packages, totalUs };
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

/** The npm package a frame belongs to, or jobledger, node internals, or V8's pseudo-frames. */
function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (modules) return modules[1]!;
  if (url.startsWith('node:')) return 'node internals';
  if (/\/dist\/(src|bench)\//.test(url)) return `jobledger ${/\/dist\/(src|bench)\//.exec(url)![1]}`;
  return url;
}

function shortUrl(url: string): string {
  return url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/');
}

function profileFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(p, f))
      : [p],
  );
}

function table(map: Map<string, number>, totalUs: number, top: number): string {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`)
    .join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 25;
  const files = profileFiles(args);
  if (files.length === 0) {
    process.stderr.write('usage: node dist/bench/profile-summary.js DIR-or-file.cpuprofile ... [--top N]\n');
    process.exit(2);
  }
  const profiles = files.map((f) => JSON.parse(readFileSync(f, 'utf8')) as CpuProfile);
  const { functions, packages, totalUs } = selfTimes(profiles);
  // Percentages of the busy time: a worker waiting on Redis or on its harness is (idle), not slow.
  const idleUs = packages.get('(idle)') ?? 0;
  packages.delete('(idle)');
  functions.delete('(idle) ');
  const busyUs = totalUs - idleUs;
  process.stdout.write(
    `${files.length} profile(s): ${(totalUs / 1e6).toFixed(1)} s sampled, ${(busyUs / 1e6).toFixed(1)} s busy; percentages of busy time\n\n`,
  );
  process.stdout.write(`self time by package:\n${table(packages, busyUs, top)}\n\nself time by function:\n${table(functions, busyUs, top)}\n`);
}

main();
