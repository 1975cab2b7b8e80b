/**
 * A TypeScript configuration module is compiled by tsx, resolved from the module's own project (an
 * optional peer of jobledger, not one of its dependencies): with tsx there it loads; without it, the
 * error is one line naming the two ways out. Real processes on the built package, in fresh projects.
 */
import { execFile } from 'node:child_process';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runDirectory } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const distIndex = pathToFileURL(fileURLToPath(new URL('../dist/src/index.js', import.meta.url))).href;

function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: cwd }, timeout: 120_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** A project whose jobledger.config.ts defines one job type; with `modules`, its node_modules (tsx, zod) are this repository's. */
function project(modules: boolean): string {
  const dir = runDirectory();
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  writeFileSync(
    join(dir, 'jobledger.config.ts'),
    `import { defineJob } from ${JSON.stringify(distIndex)};
import { z } from 'zod';
const schema: z.ZodType<{ who: string }> = z.object({ who: z.string() });
export const jobs = [defineJob({ name: 'app.greet', schema, handler: (p: { who: string }) => 'hi ' + p.who })];
`,
  );
  if (modules) symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), join(dir, 'node_modules'));
  return dir;
}

describe('a TypeScript configuration module', () => {
  it('loads through the tsx of its own project', async () => {
    const dir = project(true);
    const result = await run(['types', '--json'], dir);
    expect(result.code, result.stderr).toBe(0);
    const types = JSON.parse(result.stdout) as { source: string; jobs: { name: string }[] };
    expect(types.source).toBe(join(dir, 'jobledger.config.ts'));
    expect(types.jobs.map((j) => j.name)).toEqual(['app.greet']);
  });

  it('without tsx in its project, fails in one line that says how to fix it', async () => {
    const dir = project(false);
    const result = await run(['types'], dir);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `jobledger: JOBLEDGER_CONFIG_MODULE: ${join(dir, 'jobledger.config.ts')}: is TypeScript, and loading it needs tsx, which its project does not have: run "npm install --save-dev tsx" there, or compile it to jobledger.config.js (or .mjs)\n`,
    );
  });
});
