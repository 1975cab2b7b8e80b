/**
 * What the published package promises about itself: every module its code loads is a direct
 * dependency (an isolated install, `--install-strategy=linked` or pnpm, finds nothing else), runtime
 * dependencies are ranges (the lockfile pins CI), and it carries its licence.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  license?: string;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

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
  it('declares every package its code loads as a direct dependency', () => {
    const loaded = loadedPackages();
    expect(loaded.get('better-sqlite3'), 'the SQLite checkpointer resolves better-sqlite3').toBeDefined();
    const declared = (name: string) => Object.hasOwn(pkg.dependencies, name) || Object.hasOwn(pkg.peerDependencies, name);
    const missing = [...loaded].filter(([name]) => !declared(name)).map(([name, file]) => `${name} (${file})`);
    expect(missing).toEqual([]);
  });

  it('takes runtime dependencies as caret ranges, except the OpenTelemetry API, held below 1.10 for the SDK peer range', () => {
    const notRanges = Object.entries(pkg.dependencies).filter(([name, version]) => !/^\^\d+\.\d+\.\d+$/.test(version) && !(name === '@opentelemetry/api' && version === '~1.9.0'));
    expect(notRanges).toEqual([]);
  });

  it("takes MikroORM as a peer dependency, pinned to the version it is tested with: one copy, the application's, so its EntityManager is the ledger's kind", () => {
    const orm = Object.keys(pkg.dependencies).filter((name) => name.startsWith('@mikro-orm/'));
    expect(orm, 'MikroORM as a plain dependency').toEqual([]);
    const peers = Object.entries(pkg.peerDependencies);
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
