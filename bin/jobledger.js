#!/usr/bin/env node
// The `jobledger` command: runs the compiled CLI from dist/ (built by `npm run build`).
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('jobledger: not built yet; run "npm run build" first\n');
  process.exit(1);
}
// Compiled code is kept between runs, which cuts a command's start-up: by Node itself from 22.1,
// by jobledger's own cache of the CommonJS modules before (src/cli/compile-cache.ts).
if (module.enableCompileCache) module.enableCompileCache();
else (await import(new URL('../dist/src/cli/compile-cache.js', import.meta.url).href)).installCompileCache();
const { main } = await import(entry.href);
await main(process.argv.slice(2));
