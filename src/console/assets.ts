/**
 * The UI's files: plain ES modules, a stylesheet and one HTML page, shipped in the package's
 * `console-assets/` folder (no bundler, nothing fetched from elsewhere). They are read once, when the
 * console is created, and served from memory; only the files found there can be asked for.
 * `index.html` names the console's base path (its prefix) in `{{base}}`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Asset {
  type: string;
  body: Buffer;
}

const types: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** `console-assets/` of the package this module belongs to (found above src/console or dist/src/console). */
export function assetsDirectory(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'console-assets');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate)) return candidate;
  }
  throw new Error('console-assets/ not found beside jobledger\'s package.json: the package is incomplete');
}

export class ConsoleAssets {
  private readonly files = new Map<string, Asset>();
  private readonly page: string;

  constructor(directory = assetsDirectory()) {
    for (const file of walk(directory)) {
      const type = types[extname(file)];
      if (!type) continue;
      this.files.set(relative(directory, file).split(sep).join('/'), { type, body: readFileSync(file) });
    }
    this.page = this.files.get('index.html')?.body.toString('utf8') ?? '';
    this.files.delete('index.html');
  }

  /** A file under `assets/`, or undefined. */
  get(path: string): Asset | undefined {
    return this.files.get(path);
  }

  /** The HTML page for the console served at `base` (its prefix, '' at the root). */
  pageFor(base: string): string {
    if (!/^[A-Za-z0-9/_.-]*$/.test(base)) throw new Error(`console prefix ${JSON.stringify(base)}: expected letters, digits, "/", "_", ".", "-"`);
    return this.page.replaceAll('{{base}}', base);
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}
