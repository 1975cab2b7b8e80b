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
// Node 22.1 and later keep compiled code between runs, which cuts a command's start-up; older
// versions lack the call and start as before (a code cache of our own for CommonJS modules saved
// about 3% of `jobs --limit 1`'s CPU on Node 20: not worth hooking the module loader).
module.enableCompileCache?.();
const { main } = await import(entry.href);
await main(process.argv.slice(2));
