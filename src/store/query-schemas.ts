/**
 * One zod schema per read query: what each library query accepts, checked before any SQL is built
 * (the console's HTTP API hands its parameters to the same schemas). A bad parameter is an
 * `InvalidOptionError` naming the field, what was expected and what came; unknown fields are
 * refused, not ignored. Every field has one `expected` text (its zod description), so messages read
 * the same whichever check failed.
 *
 * Bounds: times are epoch milliseconds within JavaScript's Date range; lists (`status: ['failed',
 * 'cancelled']`) hold 1 to 100 items; text filters are 1 to 1000 characters without NUL or lone
 * surrogates (neither can be stored, so neither can match); payload filters (`where`) take at most
 * 20 paths.
 */
import { z, type ZodType } from 'zod';
import { InvalidOptionError } from '../errors.js';
import type { PipelineStatus, RunStatus, SnapshotSubjectType, SubjectType } from './entities/index.js';
import { eventTypes, jobStatuses } from './lifecycle.js';
import { textProblem } from './json-value.js';
import { maxSearchTextLength, searchFields } from './search/search-query.js';

/** Latest time a Date can hold, in epoch milliseconds. */
export const maxEpochMs = 8_640_000_000_000_000;
/** Most items in a list-valued filter. */
export const maxListItems = 100;
/** Most payload paths in one `where`. */
export const maxWhereKeys = 20;
/** Longest text filter. */
export const maxFilterChars = 1000;

export const subjectTypes = ['job', 'run', 'pipeline', 'state', 'operator', 'replay'] as const satisfies readonly SubjectType[];
export const snapshotSubjectTypes = ['state', 'pipeline'] as const satisfies readonly SnapshotSubjectType[];
export const runStatusValues = ['open', 'running', 'completed', 'failed', 'cancelled'] as const satisfies readonly RunStatus[];
/** `JobFilter.kind`: a pipeline stage's job (it has a pipeline id) or a job of its own. */
export const jobKinds = ['job', 'stage'] as const;
export const pipelineStatusValues = ['running', 'succeeded', 'failed'] as const satisfies readonly PipelineStatus[];

/** A payload path: segments that start with a letter or `_` (a numeric one would mean an array index on PostgreSQL only). */
export const payloadPathPattern = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

const safeText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => textProblem(s) === null);

const epochMs = z.number().int().min(0).max(maxEpochMs);

/** One value, or a list of 1 to `maxListItems` of them. */
function oneOrMany<T extends ZodType>(item: T) {
  return z.union([item, z.array(item).min(1).max(maxListItems)]);
}

/** An optional field with the one text that says what it expects. */
function field<T extends ZodType>(schema: T, expected: string) {
  return schema.optional().describe(expected);
}

const expect = {
  time: `a time in epoch milliseconds (a whole number from 0 to ${maxEpochMs})`,
  text: `a string of 1 to ${maxFilterChars} characters without NUL or lone surrogates`,
  texts: `a string of 1 to ${maxFilterChars} characters without NUL or lone surrogates, or a list of 1 to ${maxListItems} of them`,
  limit: (max: number) => `a whole number from 1 to ${max}`,
  oneOf: (values: readonly string[]) => `one of ${values.join(', ')}`,
  oneOrMore: (values: readonly string[]) => `one of ${values.join(', ')}, or a list of 1 to ${maxListItems} of them`,
};

const idPattern = (prefix: string) => new RegExp(`^${prefix}_[0-9A-HJKMNP-TV-Z]{26}$`);
const runId = z.string().regex(idPattern('run'));

/** `where`: payload path → value compared as text; at most `maxWhereKeys` paths. */
const whereSchema = z
  .record(z.string(), z.union([safeText(maxFilterChars).or(z.literal('')), z.number().refine(Number.isFinite), z.boolean()]))
  .superRefine((where, ctx) => {
    const paths = Object.keys(where);
    if (paths.length > maxWhereKeys) {
      ctx.addIssue({ code: 'custom', message: `at most ${maxWhereKeys} payload paths`, params: { got: `${paths.length} paths` } });
    }
    const bad = paths.find((path) => path.length > 200 || !payloadPathPattern.test(path));
    if (bad !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'a payload path like "customer.id" (letters, digits, "_", dots)', params: { got: bad } });
    }
  });

const jobFilterFields = {
  status: field(oneOrMany(z.enum(jobStatuses)), expect.oneOrMore(jobStatuses)),
  name: field(oneOrMany(safeText(200)), expect.texts),
  queue: field(oneOrMany(safeText(200)), expect.texts),
  runId: field(oneOrMany(runId), 'a run id like "run_01J...", or a list of them'),
  kind: field(z.enum(jobKinds), 'job (not part of a pipeline) or stage (a pipeline stage)'),
  since: field(epochMs, expect.time),
  until: field(epochMs, expect.time),
  where: field(whereSchema, `an object of at most ${maxWhereKeys} payload paths ("customer.id") to a string, number or boolean`),
  errorContains: field(safeText(200), 'text to find in the last error message (1 to 200 characters)'),
  errorMatches: field(safeText(maxSearchTextLength), `words or "quoted phrases" to find in the job's error messages (full-text search, 1 to ${maxSearchTextLength} characters)`),
};

/** `listJobs`. */
export const listJobsSchema = z.strictObject({
  ...jobFilterFields,
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
  offset: field(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), 'a whole number >= 0'),
  /** The listing's position to continue after (keyset paging): the last job of the previous page. */
  before: field(z.strictObject({ createdAt: epochMs, id: z.string().regex(idPattern('job')) }), 'the { createdAt, id } of the last job of the previous page'),
});

/** `searchJobs`: `listJobs` without `offset`, with the most jobs one call reads. */
export const searchJobsSchema = listJobsSchema.omit({ offset: true }).extend({
  scanLimit: field(z.number().int().min(1).max(1_000_000), 'a whole number from 1 to 1,000,000'),
});

/** `fullTextSearch` (search/full-text-search.ts): the job filters with keyset paging, and the fields to search. */
export const textSearchSchema = listJobsSchema.omit({ offset: true, errorContains: true, errorMatches: true }).extend({
  limit: field(z.number().int().min(1).max(1000), expect.limit(1000)),
  fields: field(z.array(z.enum(searchFields)).min(1).max(searchFields.length), `a list of ${searchFields.join(', ')}`),
});

/** `countJobsByStatus`: the job filters without paging. */
export const countJobsSchema = z.strictObject(jobFilterFields);

/** `listEvents`. */
export const listEventsSchema = z.strictObject({
  type: field(oneOrMany(z.enum(eventTypes)), expect.oneOrMore(eventTypes)),
  subjectType: field(z.enum(subjectTypes), expect.oneOf(subjectTypes)),
  subjectId: field(safeText(300), `a string of 1 to 300 characters without NUL or lone surrogates`),
  since: field(epochMs, expect.time),
  until: field(epochMs, expect.time),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
  before: field(z.strictObject({ createdAt: epochMs, id: z.string().regex(idPattern('evt')) }), 'the { createdAt, id } of the last event of the previous page'),
});

/** `listAttempts`. */
export const listAttemptsSchema = z.strictObject({
  jobIds: field(z.array(z.string().regex(idPattern('job'))).max(10_000), 'a list of at most 10000 job ids like "job_01J..."'),
  since: field(epochMs, expect.time),
  limit: field(z.number().int().min(1).max(1_000_000), expect.limit(1_000_000)),
});

/** `listRuns`. */
export const listRunsSchema = z.strictObject({
  status: field(z.enum(runStatusValues), expect.oneOf(runStatusValues)),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
});

/** `state.list(namespace, options)` (the namespace is checked by state-model.ts). */
export const listStateSchema = z.strictObject({
  prefix: field(safeText(128).or(z.literal('')), 'a string of at most 128 characters without NUL or lone surrogates'),
  afterKey: field(safeText(128), 'a state key (1 to 128 characters without NUL or lone surrogates)'),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
  includeDeleted: field(z.boolean(), 'true or false'),
});

/** `state.history(namespace, key, options)`. */
export const stateHistorySchema = z.strictObject({
  afterVersion: field(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), 'a whole number >= 0'),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
});

/** `pipelines.list`. */
export const listPipelinesSchema = z.strictObject({
  state: field(safeText(100), 'a stage or terminal state name (1 to 100 characters)'),
  status: field(z.enum(pipelineStatusValues), expect.oneOf(pipelineStatusValues)),
  name: field(safeText(100), 'a pipeline name (1 to 100 characters)'),
  runId: field(runId, 'a run id like "run_01J..."'),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
});

/** `pipelines.history`. */
export const pipelineHistorySchema = z.strictObject({
  finalState: field(safeText(100), 'a terminal state name (1 to 100 characters)'),
  status: field(z.enum(pipelineStatusValues), expect.oneOf(pipelineStatusValues)),
  name: field(safeText(100), 'a pipeline name (1 to 100 characters)'),
  since: field(epochMs, expect.time),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
});

/** `state.listSnapshots`. */
export const listSnapshotsSchema = z.strictObject({
  namespace: field(z.string(), 'a state namespace'),
  key: field(z.string(), 'a state key'),
  subjectType: field(z.enum(snapshotSubjectTypes), expect.oneOf(snapshotSubjectTypes)),
  subjectId: field(safeText(300), 'a string of 1 to 300 characters without NUL or lone surrogates'),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
});

/** `audit`: the audit log's filters; keyset pages continue `after` the last row's id. */
export const listAuditSchema = z.strictObject({
  actor: field(safeText(200), 'an actor name (1 to 200 characters without NUL or lone surrogates)'),
  action: field(oneOrMany(safeText(50)), 'an action like "job.retry" (1 to 50 characters), or a list of them'),
  subject: field(safeText(200), 'a subject: a job, run or snapshot id, "namespace/key" of a state entry, or a maintenance task (1 to 200 characters)'),
  source: field(z.enum(['cli', 'api', 'library']), expect.oneOf(['cli', 'api', 'library'])),
  since: field(epochMs, expect.time),
  until: field(epochMs, expect.time),
  limit: field(z.number().int().min(1).max(10_000), expect.limit(10_000)),
  after: field(z.string().regex(idPattern('aud')), 'the id ("aud_01J...") of the last audit row of the previous page'),
});

/** An id argument (`getJob`, `pipelines.get`, ...): checked as text here; its shape by the caller where it matters. */
export const idArgumentSchema = safeText(200).describe('an id: a string of 1 to 200 characters without NUL or lone surrogates');

/** `countRows`: the tables it counts (the name becomes SQL text, so nothing else). */
export const countRowsSchema = z.enum(['jobs', 'attempts', 'events', 'runs']).describe('one of jobs, attempts, events, runs');

/** A list of ids (`pipelines.find`). */
export const idListSchema = z.array(safeText(200)).max(10_000).describe('a list of at most 10000 ids');

/**
 * `input` checked against `schema`, or an `InvalidOptionError` for the first problem: the field
 * (`since`), what it expects, and what came. `name` names the whole argument (`filter`, `id`).
 */
export function parseQuery<T extends ZodType>(schema: T, input: unknown, name = 'filter'): z.output<T> {
  let result: ReturnType<T['safeParse']>;
  try {
    result = schema.safeParse(input ?? (schema instanceof z.ZodObject ? {} : input)) as ReturnType<T['safeParse']>;
  } catch {
    // A getter or proxy trap that throws while zod reads the input.
    throw new InvalidOptionError(name, 'plain data', 'a value that could not be read');
  }
  if (result.success) return result.data as z.output<T>;
  const issues = result.error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
    throw new InvalidOptionError(issue.keys[0] ?? name, `one of the accepted fields (${known.join(', ')})`, issue.keys[0]);
  }
  const [top] = issue.path;
  if (!(schema instanceof z.ZodObject)) throw new InvalidOptionError(name, schema.description ?? 'a valid value', input);
  if (top === undefined) throw new InvalidOptionError(name, 'an object', input);
  const fieldName = String(top);
  const shape = schema.shape as Record<string, ZodType | undefined>;
  const described = Object.hasOwn(shape, fieldName) ? shape[fieldName]?.description : undefined;
  const custom = issue.code === 'custom' ? (issue.params as { got?: unknown } | undefined) : undefined;
  if (custom && 'got' in custom) throw new InvalidOptionError(fieldName, issue.message, custom.got);
  throw new InvalidOptionError(fieldName, described ?? 'a valid value', valueOf(input, fieldName));
}

function valueOf(input: unknown, key: string): unknown {
  try {
    return typeof input === 'object' && input !== null && Object.hasOwn(input, key) ? (input as Record<string, unknown>)[key] : undefined;
  } catch {
    return undefined;
  }
}
