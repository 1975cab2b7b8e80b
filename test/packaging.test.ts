/**
 * What the published package promises about itself: every module its code loads is a direct or peer
 * dependency (an isolated install, `--install-strategy=linked` or pnpm, finds nothing else), runtime
 * dependencies are ranges (the lockfile pins CI), zod is the application's (a peer) and tsx too (an
 * optional peer, for TypeScript configuration modules), it carries its licence, and the tarball
 * holds no source maps and no test-only code. Then the real thing: the packed tarball installed with
 * `--install-strategy=linked` into a fresh project runs `jobledger demo`.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { testRedisUrl } from './support/services.js';
import { runDirectory, runNames } from './support/test-run.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  license?: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};
const run = promisify(execFile);

/** The files `npm pack` would put in the tarball, as it lists them. */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout) as { files: { path: string }[] }[];
  return packed!.files.map((f) => f.path);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `zod`, `@mikro-orm/core`, `tsx` from `tsx/esm/api`; null for relative paths and Node's own modules. */
function packageOf(specifier: string): string | null {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  return builtinModules.includes(name) ? null : name;
}

/** The packages the shipped code loads: static and dynamic imports, and `require`/`require.resolve` of a name. */
function loadedPackages(): Map<string, string> {
  const found = new Map<string, string>();
  const pattern = /(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|\.resolve\s*\(\s*)'([^']+)'/g;
  for (const file of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'migrations'))]) {
    for (const match of readFileSync(file, 'utf8').matchAll(pattern)) {
      const name = packageOf(match[1]!);
      if (name && !found.has(name)) found.set(name, file.slice(root.length));
    }
  }
  return found;
}

describe('the package', () => {
  it('declares every package its code loads as a direct or peer dependency', () => {
    const loaded = loadedPackages();
    expect(loaded.get('better-sqlite3'), 'the SQLite checkpointer resolves better-sqlite3').toBeDefined();
    const declared = (name: string) => Object.hasOwn(pkg.dependencies, name) || Object.hasOwn(pkg.peerDependencies, name);
    const missing = [...loaded].filter(([name]) => !declared(name)).map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it("takes zod as a peer (the application's schemas and ours must be one zod) and tsx as an optional one", () => {
    const peers = Object.fromEntries(Object.entries(pkg.peerDependencies).filter(([name]) => !name.startsWith('@mikro-orm/')));
    expect(peers).toEqual({ zod: expect.stringMatching(/^\^4\./), tsx: expect.stringMatching(/^\^4\./) });
    expect(pkg.peerDependenciesMeta).toEqual({ tsx: { optional: true } });
    expect(Object.keys(pkg.dependencies)).not.toContain('zod');
    expect(Object.keys(pkg.dependencies)).not.toContain('tsx');
    // Our own build and tests use them: pinned among the dev dependencies.
    expect(pkg.devDependencies.zod).toMatch(/^4\.\d+\.\d+$/);
    expect(pkg.devDependencies.tsx).toMatch(/^4\.\d+\.\d+$/);
  });

  it('packs no source maps and no test-only code', async () => {
    const files = await packedFiles();
    expect(files).toContain('dist/src/index.js');
    expect(files).toContain('dist/src/fault-points.js');
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    expect(files.filter((f) => !/^(bin|dist\/src|dist\/migrations|console-assets)\/|^(package\.json|README\.md|LICENSE)$/.test(f))).toEqual([]);
    // The fault points are inert: no environment variable arms them, nothing in the package kills its process.
    const shipped = files.filter((f) => f.endsWith('.js')).map((f) => [f, readFileSync(join(root, f), 'utf8')] as const);
    expect(shipped.filter(([, text]) => /SIGKILL|FAULT_INJECT/.test(text)).map(([f]) => f)).toEqual([]);
    expect(readFileSync(join(root, 'dist/src/fault-points.js'), 'utf8')).not.toContain('process.env');
  });

  it('takes runtime dependencies as caret ranges, except the OpenTelemetry API, held below 1.10 for the SDK peer range', () => {
    const notRanges = Object.entries(pkg.dependencies).filter(([name, version]) => !/^\^\d+\.\d+\.\d+$/.test(version) && !(name === '@opentelemetry/api' && version === '~1.9.0'));
    expect(notRanges).toEqual([]);
  });

  it("takes MikroORM as a peer dependency, pinned to the version it is tested with: one copy, the application's, so its EntityManager is the ledger's kind", () => {
    const orm = Object.keys(pkg.dependencies).filter((name) => name.startsWith('@mikro-orm/'));
    expect(orm, 'MikroORM as a plain dependency').toEqual([]);
    const peers = Object.entries(pkg.peerDependencies).filter(([name]) => name.startsWith('@mikro-orm/'));
    expect(peers.map(([name]) => name).sort()).toEqual(['@mikro-orm/better-sqlite', '@mikro-orm/core', '@mikro-orm/knex', '@mikro-orm/migrations', '@mikro-orm/postgresql']);
    expect(new Set(peers.map(([, version]) => version))).toEqual(new Set(['6.6.16']));
    for (const [name, version] of peers) expect(pkg.devDependencies[name], `${name} for this checkout's own install`).toBe(version);
  });

  it('carries an MIT licence', () => {
    expect(pkg.license).toBe('MIT');
    const licence = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(licence).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the jobledger authors\n/);
  });
});

describe('the packed package installed on its own', () => {
  it(
    'installs with --install-strategy=linked into a fresh project and runs jobledger demo',
    { timeout: 900_000 },
    async () => {
      const dir = runDirectory();
      const { stdout: packed } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
      const [{ filename }] = JSON.parse(packed) as [{ filename: string }];
      const app = join(dir, 'app');
      mkdirSync(app);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
      // zod comes in as the package's peer; tsx (an optional peer) does not. Install scripts are
      // skipped and better-sqlite3's addon is taken from this checkout: compiling it again from
      // source takes minutes, and says nothing about where the package finds its modules.
      await run('npm', ['install', '--install-strategy=linked', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', join(dir, filename)], {
        cwd: app,
        maxBuffer: 64 * 1024 * 1024,
        timeout: 840_000,
      });
      copyLinkedAddon(app);
      const env = { PATH: process.env.PATH ?? '', HOME: dir, REDIS_URL: await testRedisUrl() };
      const prefix = `${runNames().redisPrefix}linked-${randomBytes(5).toString('hex')}`;
      const demo = await run(
        join(app, 'node_modules', '.bin', 'jobledger'),
        ['demo', '--jobs', '20', '--pipelines', '2', '--json', '--database', `sqlite:${join(app, 'demo.sqlite')}`, '--redis-prefix', prefix],
        { cwd: app, env, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
      );
      const summary = JSON.parse(demo.stdout.trim().split('\n').at(-1)!) as { jobs: { total: number; completed: number; failed: number } };
      expect(summary.jobs.total).toBe(20);
      expect(summary.jobs.completed + summary.jobs.failed).toBe(20);
    },
  );
});

/** better-sqlite3's compiled addon from this checkout into the linked install's copy (same version). */
function copyLinkedAddon(app: string): void {
  const store = join(app, 'node_modules', '.store');
  const entry = readdirSync(store).find((name) => name.startsWith('better-sqlite3@'));
  if (!entry) throw new Error(`the linked install has no better-sqlite3 in ${store}`);
  const theirs = join(store, entry, 'node_modules', 'better-sqlite3');
  const ours = join(root, 'node_modules', 'better-sqlite3');
  const version = (path: string) => (JSON.parse(readFileSync(join(path, 'package.json'), 'utf8')) as { version: string }).version;
  if (version(ours) !== version(theirs)) throw new Error(`the linked install has better-sqlite3 ${version(theirs)}, the checkout ${version(ours)}`);
  mkdirSync(join(theirs, 'build', 'Release'), { recursive: true });
  cpSync(join(ours, 'build', 'Release', 'better_sqlite3.node'), join(theirs, 'build', 'Release', 'better_sqlite3.node'));
}
