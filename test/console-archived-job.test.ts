/**
 * The console's job detail for a job in the cold archive, through Fastify's `inject` on both
 * backends: `GET /api/jobs/:id` answers it from its segment as it was when live, marked with the
 * segment holding it (`archivedIn`), its lineage answers too, actions on it change nothing, an
 * unknown job is still a 404, and a damaged segment is reported by its code, never read.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createConsole } from '../src/console/index.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { newId } from '../src/store/ids.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';
import { runDirectory } from './support/test-run.js';
import { seedFinishedJobs } from './support/archive-seed.js';

const tokens = parseConsoleTokens('olga:operator:olga-secret-0123456789,vera:viewer:vera-secret-0123456789');
const asOperator = { authorization: 'Bearer olga-secret-0123456789' };
const asViewer = { authorization: 'Bearer vera-secret-0123456789' };

const json = (response: LightMyRequestResponse) => response.json<Record<string, unknown>>();

describe.each(backends)('console job detail of archived jobs on %s', (dialect) => {
  it('answers an archived job read-only from its segment, naming the segment; a damaged segment by its code', async () => {
    const directory = join(runDirectory(), 'archive');
    const jl = await openTestJobLedger(dialect, { jobs: [], env: { JOBLEDGER_ARCHIVE_DIR: directory, JOBLEDGER_ARCHIVE_AFTER_DAYS: '7' } });
    const app = createConsole({ jl, tokens });
    const get = (url: string) => app.inject({ method: 'GET', url, headers: asViewer });

    const [archivedId, otherId] = await seedFinishedJobs(jl.ledger, 2, { ageDays: 10 });
    const [liveId] = await seedFinishedJobs(jl.ledger, 1, { ageDays: 1 });
    const before = await jl.ledger.getJobDetail(archivedId!);
    const live = await get(`/api/jobs/${liveId}`);
    expect(live.statusCode).toBe(200);
    expect(json(live)).not.toHaveProperty('archivedIn');

    // One job per segment: the second one is never read before it is damaged (reads keep the last segments decoded).
    expect(await jl.archive.run({ segmentJobs: 1 })).toMatchObject({ jobs: 2, segments: 2 });

    // As it was when live, plus the segment; its lineage (replays, audit rows) answers as well.
    const detail = await get(`/api/jobs/${archivedId}`);
    expect(detail.statusCode).toBe(200);
    const segmentId = String(json(detail).archivedIn);
    expect((await jl.archive.list()).map((s) => s.id)).toContain(segmentId);
    expect(json(detail)).toEqual(JSON.parse(JSON.stringify({ ...before, archivedIn: segmentId })));
    const lineage = await get(`/api/jobs/${archivedId}/lineage`);
    expect(lineage.statusCode).toBe(200);
    expect(json(lineage)).toMatchObject({ jobId: archivedId, replayOf: null, replayedAs: [], audit: [] });

    // Read-only: an action finds no live job to act on and the job stays archived.
    const retry = await app.inject({ method: 'POST', url: `/api/jobs/${archivedId}/retry`, headers: asOperator, payload: { reason: 'try it' } });
    expect(retry.statusCode).toBe(404);
    expect(await jl.archive.holds(archivedId!)).toBe(true);

    const unknown = newId('job');
    for (const url of [`/api/jobs/${unknown}`, `/api/jobs/${unknown}/lineage`]) {
      const missing = await get(url);
      expect(missing.statusCode, url).toBe(404);
      expect(json(missing).code, url).toBe('JOBLEDGER_NOT_FOUND');
    }

    // A flipped byte: the answer names the damage and the segment, and carries none of the record.
    const other = (await jl.archive.list()).find((s) => s.id !== segmentId)!;
    const file = join(directory, `${other.id}.ndjson.gz`);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);
    const damaged = await get(`/api/jobs/${otherId}`);
    expect(damaged.statusCode).toBe(500);
    expect(json(damaged)).toEqual({ code: 'JOBLEDGER_ARCHIVE_DAMAGED', message: expect.stringContaining(other.id) as unknown });

    await app.close();
    await jl.close();
  });
});
