#!/usr/bin/env node
// The `jobledger` command: runs the compiled CLI from dist/ (built by `npm run build`).
import { existsSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node 22.1 and later keep compiled code between runs, which cuts a command's start-up; older
// versions lack the call and start as before.
module.enableCompileCache?.();

const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('jobledger: not built yet; run "npm run build" first\n');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv.slice(2));
