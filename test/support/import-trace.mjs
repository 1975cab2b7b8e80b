// Preload for child processes (`node --import ./import-trace.mjs ...`): appends the URL of every
// module the process loads, one a line, to the file named by IMPORT_TRACE_FILE. Used to check
// which packages a CLI command loads (test/cli-startup.test.ts).
import { register } from 'node:module';

register(
  'data:text/javascript,' +
    encodeURIComponent(`
import { appendFileSync } from 'node:fs';
const file = ${JSON.stringify(process.env.IMPORT_TRACE_FILE ?? '')};
export async function load(url, context, next) {
  if (file) appendFileSync(file, url + '\\n');
  return next(url, context);
}`),
);
