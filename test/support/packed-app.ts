/**
 * An example app (examples/<name>) installed the way a user installs it: this checkout packed with
 * `npm pack` (so only what the package publishes), the example copied to a temporary directory
 * with its `jobledger` dependency pointed at that tarball, and `npm install` run there. Needs
 * `npm run build` first (the tarball carries dist/) and the npm registry or a warm npm cache.
 */
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runDirectory } from './test-run.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

export interface PackedApp {
  /** The installed app's directory. */
  readonly dir: string;
  /** The app's package.json scripts, as written. */
  readonly scripts: Readonly<Record<string, string>>;
}

export async function installExample(name: string): Promise<PackedApp> {
  if (!existsSync(join(root, 'dist/src/index.js'))) throw new Error('dist/ is missing: run `npm run build` before the example tests');
  const work = runDirectory();
  await run('npm', ['pack', '--silent', '--pack-destination', work], { cwd: root });
  const tarball = readdirSync(work).find((file) => file.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack left no tarball in ${work}`);

  const dir = join(work, name);
  cpSync(join(root, 'examples', name), dir, { recursive: true, filter: (path) => !/[/\\](node_modules|data)$/.test(path) });
  const manifestPath = join(dir, 'package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
  manifest.dependencies.jobledger = `file:${join(work, tarball)}`;
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));

  // Install scripts are skipped: the one that matters, better-sqlite3's native addon, compiles for
  // minutes without a prebuilt binary; the checkout's own build of the same version is copied in.
  await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, maxBuffer: 16 << 20 });
  copyNativeAddon(dir);
  return { dir, scripts: manifest.scripts };
}

function copyNativeAddon(dir: string): void {
  const ours = join(root, 'node_modules/better-sqlite3');
  const theirs = join(dir, 'node_modules/better-sqlite3');
  const version = (path: string) => (JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as { version: string }).version;
  if (version(ours) !== version(theirs)) throw new Error(`the example installed better-sqlite3 ${version(theirs)}, the checkout has ${version(ours)}`);
  mkdirSync(join(theirs, 'build/Release'), { recursive: true });
  cpSync(join(ours, 'build/Release/better_sqlite3.node'), join(theirs, 'build/Release/better_sqlite3.node'));
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The environment for an app's commands: this one without JOBLEDGER_* (loadConfig rejects unknown ones), plus `env`. */
export function appEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_'))), ...env };
}

/** Runs one of the app's package.json scripts as written, with `args`, through `sh -c 'exec ...'`. */
export function startScript(app: PackedApp, script: string, args: readonly string[], env: Record<string, string>) {
  const command = app.scripts[script];
  if (!command) throw new Error(`the example has no "${script}" script`);
  const child = spawn('sh', ['-c', `exec ${command} "$@"`, 'sh', ...args], { cwd: app.dir, env: appEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<CommandResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, exited, output: () => ({ stdout, stderr }) };
}
