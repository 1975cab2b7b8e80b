/**
 * Nesting depth (issue 21, item 5): SQLite's JSON functions stop at 1000 levels, and one document
 * deeper than that made every `--where` query over its table fail. Payloads, state data, results
 * and progress are refused past JOBLEDGER_MAX_JSON_DEPTH (default 64) with a coded error, however
 * deep the value (no uncoded RangeError from a stack overflow), on both backends.
 */
import { describe, expect, it } from 'vitest';
import { z, type ZodType } from 'zod';
import { loadConfig } from '../src/config.js';
import { InvalidConfigError, InvalidOptionError, InvalidPayloadError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { toStorableJson } from '../src/store/json-value.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';

/** `levels` nested objects: `{ a: { a: ... { a: 'leaf' } } }`. */
function nested(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = { a: value };
  return value;
}

const anything = defineJob({ name: 'test.anything', schema: z.object({ tree: z.unknown() }), handler: () => null });

type Tree = { a?: Tree | string };
const treeSchema: ZodType<Tree> = z.lazy(() => z.object({ a: z.union([treeSchema, z.string()]).optional() }));
/** A schema that recurses into the value: zod itself overflows the stack on a very deep one. */
const recursive = defineJob({ name: 'test.recursive', schema: z.object({ tree: treeSchema }), handler: () => null });

async function payloadError(call: Promise<unknown>): Promise<InvalidPayloadError> {
  const thrown = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown).toBeInstanceOf(InvalidPayloadError);
  return thrown as InvalidPayloadError;
}

describe.each(backends)('nesting depth on %s', (dialect) => {
  it('accepts a payload 64 levels deep and refuses 65, 1,500 and 100,000 with a coded error', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [anything, recursive] });
    // `{ tree: ... }` is one level: 63 more make 64.
    const ok = await jl.enqueue('test.anything', { tree: nested(63) });
    expect((await jl.ledger.getJob(ok.id)).payload).toEqual({ tree: nested(63) });
    for (const levels of [64, 1_500, 100_000]) {
      const error = await payloadError(jl.enqueue('test.anything', { tree: nested(levels) }));
      expect(error.code).toBe('JOBLEDGER_INVALID_PAYLOAD');
      expect(error.message).toContain('expected at most 64 levels of nested arrays and objects (JOBLEDGER_MAX_JSON_DEPTH), got deeper nesting');
    }
    const viaSchema = await payloadError(jl.enqueue('test.recursive', { tree: nested(100_000) as Tree }));
    expect(viaSchema.message).toMatch(/^JOBLEDGER_INVALID_PAYLOAD: test\.recursive\.payload: expected a value the job type's schema can check/);
    expect(await jl.ledger.countRows('jobs')).toBe(1);
    // Payload queries keep working for everyone.
    expect((await jl.ledger.listJobs({ where: { 'tree.a.a': 'x' } })).map((j) => j.id)).toEqual([]);
    await jl.close();
  });

  it('follows JOBLEDGER_MAX_JSON_DEPTH for payloads and state data', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [anything], env: { JOBLEDGER_MAX_JSON_DEPTH: '8' } });
    await jl.enqueue('test.anything', { tree: nested(7) });
    const error = await payloadError(jl.enqueue('test.anything', { tree: nested(8) }));
    expect(error.message).toContain('at most 8 levels');
    await jl.state.set('docs', 'ok', nested(8));
    await expect(jl.state.set('docs', 'deep', nested(9))).rejects.toSatisfy(
      (e) => e instanceof InvalidOptionError && e.message.includes('at most 8 levels'),
    );
    await expect(jl.state.set('docs', 'deeper', nested(100_000))).rejects.toBeInstanceOf(InvalidOptionError);
    expect((await jl.state.list('docs')).map((e) => e.key)).toEqual(['ok']);
    await jl.close();
  });
});

describe('the depth setting and the check itself', () => {
  it('refuses a JOBLEDGER_MAX_JSON_DEPTH at or past what SQLite can hold', () => {
    expect(loadConfig({}, {}).maxJsonDepth).toBe(64);
    expect(loadConfig({}, { JOBLEDGER_MAX_JSON_DEPTH: '500' }).maxJsonDepth).toBe(500);
    for (const bad of ['0', '501', '1000', 'deep']) {
      expect(() => loadConfig({}, { JOBLEDGER_MAX_JSON_DEPTH: bad })).toThrow(InvalidConfigError);
    }
  });

  it('stops at the limit without walking further: a hundred thousand levels are refused at once', () => {
    const limits = { maxDepth: 64, maxBytes: 1024 * 1024 };
    const arrays = (levels: number): unknown => {
      let value: unknown = [];
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    expect(toStorableJson(arrays(63), { path: '', name: 'v' }, limits).ok).toBe(true);
    const refused = toStorableJson(arrays(100_000), { path: '', name: 'v' }, limits);
    expect(refused.ok).toBe(false);
    expect(!refused.ok && refused.problem.got).toBe('deeper nesting');
  });
});
