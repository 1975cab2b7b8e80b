/**
 * A compile cache for the CommonJS modules a `jobledger` command loads, for Node versions without
 * `module.enableCompileCache` (before 22.1; bin/jobledger.js uses that one where it exists).
 *
 * Most of what a command loads is CommonJS (MikroORM, knex, better-sqlite3, BullMQ, ioredis), and
 * compiling it is a large part of a command's start-up. Each such module is compiled here with V8's
 * code cache: the first run records, after the command ran, the code V8 compiled for each module;
 * later runs hand it back to V8 instead of compiling again. One file per package (read when the
 * package's first module loads, so `--help` reads only the argument parser's) and Node version, in a
 * directory only this user can write (`NODE_COMPILE_CACHE`, else the OS temporary directory); each
 * module's entry is keyed by its path and a hash of its source, so a changed module compiles afresh.
 * `NODE_DISABLE_COMPILE_CACHE=1` turns it off, as it does Node's own.
 *
 * Anything unusual (a syntax error, an ES module, a cache that cannot be read or written) goes the
 * ordinary way: the cache can make a command faster, never make it fail.
 */
import { hash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import { dirname, join, sep } from 'node:path';
import vm from 'node:vm';
import zlib from 'node:zlib';

/** The parts of Node's CommonJS loader this hooks into (public in practice, untyped in @types/node). */
interface LoaderModule {
  exports: unknown;
  require(id: string): unknown;
  _compile: (this: LoaderModule, content: string, filename: string, format?: string) => unknown;
}
interface Loader {
  prototype: LoaderModule;
  wrap(content: string): string;
  _resolveFilename(request: string, parent: LoaderModule, isMain: boolean, options?: unknown): string;
  _resolveLookupPaths(request: string, parent: LoaderModule): string[] | null;
  _extensions: unknown;
  _cache: unknown;
}

interface Entry {
  hash: string;
  data: Buffer;
}

/** Past this many bytes in one package's file, entries this run did not use are dropped when it is written. */
const maxPackageBytes = 16 * 1024 * 1024;

/** One package's file: what it held when read, what this run used of it, what this run compiled anew. */
interface PackageCache {
  file: string;
  stored: Map<string, Entry>;
  used: Map<string, Entry>;
  toRecord: Map<string, { hash: string; script: vm.Script }>;
}

/** Installs the cache for this process; returns false (and does nothing) where it does not apply. */
export function installCompileCache(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NODE_DISABLE_COMPILE_CACHE === '1' || typeof vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER !== 'symbol') return false;
  const dir = cacheDirectory(env);
  if (!dir) return false;
  const packages = new Map<string, PackageCache>();
  const packageCache = (filename: string): PackageCache => {
    const root = packageRoot(filename);
    let cache = packages.get(root);
    if (!cache) {
      const file = join(dir, `${hash('sha1', root).slice(0, 20)}-${process.version}-${process.arch}.bin`);
      cache = { file, stored: readEntries(file), used: new Map(), toRecord: new Map() };
      packages.set(root, cache);
    }
    return cache;
  };
  const loader = Module as unknown as Loader;
  const compile = loader.prototype._compile;

  loader.prototype._compile = function compileWithCache(this: LoaderModule, content: string, filename: string, format?: string): unknown {
    if (format !== undefined && format !== 'commonjs') return compile.call(this, content, filename, format);
    const { stored, used, toRecord } = packageCache(filename);
    const sourceHash = sourceKey(content);
    const cached = stored.get(filename);
    const cachedData = cached?.hash === sourceHash ? cached.data : undefined;
    let script: vm.Script;
    try {
      script = new vm.Script(loader.wrap(content), {
        filename,
        ...(cachedData ? { cachedData } : {}),
        importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
      });
    } catch {
      return compile.call(this, content, filename, format); // e.g. ES module syntax: Node decides
    }
    if (cachedData && !script.cachedDataRejected) used.set(filename, cached!);
    else toRecord.set(filename, { hash: sourceHash, script });
    const wrapper = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    return wrapper.call(this.exports, this.exports, requireFor(this, loader), this, filename, dirname(filename));
  };

  process.once('exit', () => {
    for (const { file, stored, used, toRecord } of packages.values()) {
      if (toRecord.size === 0) continue;
      for (const [filename, { hash: sourceHash, script }] of toRecord) used.set(filename, { hash: sourceHash, data: script.createCachedData() });
      writeEntries(file, used, stored);
    }
  });
  return true;
}

/** The `require` a module's code gets, as Node makes it. */
function requireFor(module: LoaderModule, loader: Loader): NodeJS.Require {
  const require = ((id: string) => module.require(id)) as NodeJS.Require;
  const resolve = ((request: string, options?: unknown) => loader._resolveFilename(request, module, false, options)) as NodeJS.RequireResolve;
  resolve.paths = (request: string) => loader._resolveLookupPaths(request, module);
  require.resolve = resolve;
  require.main = process.mainModule;
  require.extensions = loader._extensions as NodeJS.Require['extensions'];
  require.cache = loader._cache as NodeJS.Require['cache'];
  return require;
}

/**
 * What identifies a module's source: its length and CRC-32 (zlib's, from Node 20.15; five times
 * cheaper than SHA-1 on the 4-5 MB a command compiles), SHA-1 before that.
 */
function sourceKey(content: string): string {
  const crc32 = (zlib as { crc32?: (data: string) => number }).crc32;
  return crc32 ? `${content.length}:${crc32(content)}` : hash('sha1', content);
}

/** The package a module belongs to: its directory under the last node_modules, else its own directory. */
function packageRoot(filename: string): string {
  const at = filename.lastIndexOf(`${sep}node_modules${sep}`);
  if (at < 0) return dirname(filename);
  const parts = filename.slice(at + 14).split(sep);
  const name = parts[0]?.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1);
  return join(filename.slice(0, at + 14), ...name);
}

/** The cache's directory, one only this user can write; undefined when none is safe. */
function cacheDirectory(env: NodeJS.ProcessEnv): string | undefined {
  try {
    const uid = process.getuid?.() ?? 0;
    const dir = env.NODE_COMPILE_CACHE || join(os.tmpdir(), `jobledger-compile-cache-${uid}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stat = statSync(dir);
    if (process.getuid && (stat.uid !== uid || (stat.mode & 0o022) !== 0)) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}

/**
 * The file: a 4-byte length, a JSON index `[filename, hash, length][]`, then each entry's bytes in
 * index order. An unreadable or damaged file is an empty cache.
 */
function readEntries(file: string): Map<string, Entry> {
  const entries = new Map<string, Entry>();
  try {
    const bytes = readFileSync(file);
    const indexLength = bytes.readUInt32LE(0);
    const index = JSON.parse(bytes.subarray(4, 4 + indexLength).toString('utf8')) as [string, string, number][];
    let offset = 4 + indexLength;
    for (const [filename, sourceHash, length] of index) {
      if (offset + length > bytes.length) return new Map();
      entries.set(filename, { hash: sourceHash, data: bytes.subarray(offset, offset + length) });
      offset += length;
    }
  } catch {
    // no cache yet, or not one this version can read: start afresh
  }
  return entries;
}

/** Writes what this run used and recorded, then older entries while under `maxPackageBytes`; atomically. */
function writeEntries(file: string, used: Map<string, Entry>, stored: Map<string, Entry>): void {
  const all = new Map(used);
  let bytes = [...used.values()].reduce((n, e) => n + e.data.length, 0);
  for (const [filename, entry] of stored) {
    if (all.has(filename) || bytes + entry.data.length > maxPackageBytes) continue;
    all.set(filename, entry);
    bytes += entry.data.length;
  }
  const index = Buffer.from(JSON.stringify([...all].map(([filename, e]) => [filename, e.hash, e.data.length])), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(index.length, 0);
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, Buffer.concat([length, index, ...[...all.values()].map((e) => e.data)]), { mode: 0o600 });
    renameSync(temporary, file);
  } catch {
    // a full disk or a removed directory costs the next run its cache, nothing more
  }
}
