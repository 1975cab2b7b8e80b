/**
 * Finds and loads the user's configuration module (`jobledger.config.{ts,mjs,js}` in the working
 * directory, or the path given with `--config`). It exports the job types, as `export const jobs`
 * or as `export default { jobs }`, and optionally its pipelines (`export const pipelines`, or
 * `pipelines` in the default export; default none) and recurring jobs (`export const schedules`,
 * likewise). With no module, the built-in demo job types and the demo ticket pipeline are used by
 * the commands that enqueue; `worker` refuses (unless `--demo`).
 *
 * Loading the module runs it: only the commands that need job types call this (cli/context.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigModuleError } from '../errors.js';
import type { JobType } from '../jobs/define-job.js';
import type { PipelineDefinition } from '../jobs/define-pipeline.js';
import type { JobSchedule } from '../jobs/define-schedule.js';

export interface LoadedJobTypes {
  jobs: JobType[];
  pipelines: PipelineDefinition[];
  schedules: JobSchedule[];
  /** The module's path, or null when the built-in demo job types are used. */
  source: string | null;
}

const candidates = ['jobledger.config.ts', 'jobledger.config.mjs', 'jobledger.config.js'];

/**
 * The built-in demo job types and pipelines (no module runs). Imported on demand: the demo is not
 * part of the library's import graph.
 */
export async function builtInJobTypes(): Promise<LoadedJobTypes> {
  const [{ allDemoJobs }, { demoPipelines }] = await Promise.all([import('../demo/demo-jobs.js'), import('../demo/demo-pipeline.js')]);
  return { jobs: allDemoJobs, pipelines: demoPipelines, schedules: [], source: null };
}

/**
 * Refuses to go on without a configuration module (a worker: serving the demo job types instead of
 * the application's would fail its jobs), naming where it looked and the ways out.
 */
export function missingConfigModule(cwd: string, command: string, noConfig = false): ConfigModuleError {
  return new ConfigModuleError(
    noConfig ? '--no-config' : resolve(cwd, 'jobledger.config.{ts,mjs,js}'),
    `${noConfig ? 'no module is run' : 'not found'}; ${command} serves the job types of a configuration module: name one with --config <path>, or pass --demo for the built-in demo job types`,
  );
}

/**
 * Loads (runs) the configuration module at `explicitPath`, or the first `jobledger.config.*` in
 * `cwd`; `beforeRun` is told its path just before it runs. With no module: the built-in demo job
 * types, or, when `requiredBy` names the command, a `ConfigModuleError`.
 */
export async function loadJobTypes(
  explicitPath: string | undefined,
  cwd = process.cwd(),
  beforeRun: (path: string) => void = () => undefined,
  requiredBy?: string,
): Promise<LoadedJobTypes> {
  const path = explicitPath ? resolve(cwd, explicitPath) : candidates.map((c) => resolve(cwd, c)).find((p) => existsSync(p));
  if (!path) {
    if (requiredBy) throw missingConfigModule(cwd, requiredBy);
    return builtInJobTypes();
  }
  if (!existsSync(path)) throw new ConfigModuleError(path, 'no such file');
  beforeRun(path);

  const tsxApi = path.endsWith('.ts') || path.endsWith('.mts') ? tsxApiFor(path) : null;
  let module: Record<string, unknown>;
  try {
    if (tsxApi !== null) {
      const { tsImport } = (await import(tsxApi)) as typeof import('tsx/esm/api');
      module = (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
    } else {
      module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    }
  } catch (error) {
    throw new ConfigModuleError(path, `could not be loaded: ${(error as Error).message}`, error);
  }
  const fromDefault = (module.default as { jobs?: unknown } | undefined)?.jobs;
  const jobs = module.jobs ?? fromDefault;
  if (!Array.isArray(jobs) || jobs.length === 0 || !jobs.every(isJobType)) {
    throw new ConfigModuleError(path, 'expected `export const jobs = [defineJob(...), ...]` or `export default { jobs: [...] }`');
  }
  const pipelines = module.pipelines ?? (module.default as { pipelines?: unknown } | undefined)?.pipelines ?? [];
  if (!Array.isArray(pipelines) || !pipelines.every(isPipelineDefinition)) {
    throw new ConfigModuleError(path, 'expected `export const pipelines = [definePipeline(...), ...]` (or `pipelines` in the default export)');
  }
  const schedules = module.schedules ?? (module.default as { schedules?: unknown } | undefined)?.schedules ?? [];
  if (!Array.isArray(schedules) || !schedules.every(isSchedule)) {
    throw new ConfigModuleError(path, 'expected `export const schedules = [defineSchedule(...), ...]` (or `schedules` in the default export)');
  }
  return { jobs: jobs as JobType[], pipelines: pipelines as PipelineDefinition[], schedules: schedules as JobSchedule[], source: path };
}

/**
 * tsx's module API (`tsx/esm/api`, its ESM entry) as the configuration module's project resolves it:
 * tsx compiles a TypeScript configuration module on the fly, and it belongs to that project (a dev
 * dependency), not to jobledger. Without it, the error says how to get it or do without. (Found
 * through tsx's package.json exports: Node resolves a bare name from another folder only for
 * `require`, and tsx's CommonJS API cannot load an ESM configuration.)
 */
function tsxApiFor(path: string): string {
  try {
    const manifest = createRequire(path).resolve('tsx/package.json');
    const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports?: Record<string, { import?: { default?: string } }> }).exports;
    const entry = exports?.['./esm/api']?.import?.default;
    if (typeof entry !== 'string') throw new Error('tsx without an ESM ./esm/api export');
    return pathToFileURL(resolve(dirname(manifest), entry)).href;
  } catch {
    throw new ConfigModuleError(
      path,
      'is TypeScript, and loading it needs tsx, which its project does not have: run "npm install --save-dev tsx" there, or compile it to jobledger.config.js (or .mjs)',
    );
  }
}

function isPipelineDefinition(value: unknown): boolean {
  const v = value as Partial<PipelineDefinition> | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && Array.isArray(v.stageOrder);
}

function isSchedule(value: unknown): boolean {
  const v = value as Partial<JobSchedule> | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.cron === 'string' && typeof v.job === 'string';
}

function isJobType(value: unknown): boolean {
  const v = value as Partial<JobType> | null;
  return typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.handler === 'function';
}
