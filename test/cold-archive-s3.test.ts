/**
 * The cold archive on an S3-compatible target: a local s3rver started by the test. Segments go to
 * the bucket under the prefix; archived jobs are found, verified and restored from there; an object
 * with a flipped byte is reported and refused; an orphan object (a move that never committed) is
 * removed by the next run.
 */
import { join } from 'node:path';
import S3rver from 's3rver';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ColdArchive } from '../src/jobs/archive/cold-archive.js';
import { testConfig } from './support/backends.js';
import { openTestLedger } from './support/ledger.js';
import { runDirectory } from './support/test-run.js';
import { seedFinishedJobs } from './support/archive-seed.js';

const bucket = 'jobledger-archive-test';
let server: S3rver;
let endpoint: string;

beforeEach(async () => {
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: join(runDirectory(), 's3'), configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  endpoint = `http://127.0.0.1:${port}`;
  // The AWS SDK's default chain reads these: the archive passes no credentials of its own.
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'S3RVER');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'S3RVER');
});

afterEach(async () => {
  vi.unstubAllEnvs();
  await server.close();
});

describe('cold archive on S3', () => {
  it('writes segments to the bucket, reads, verifies and restores them from there, and catches a flipped byte', async () => {
    const config = await testConfig('sqlite', {
      JOBLEDGER_ARCHIVE_S3_BUCKET: bucket,
      JOBLEDGER_ARCHIVE_S3_PREFIX: 'ledger-a/',
      JOBLEDGER_ARCHIVE_S3_ENDPOINT: endpoint,
      JOBLEDGER_ARCHIVE_S3_REGION: 'us-east-1',
      JOBLEDGER_ARCHIVE_S3_FORCE_PATH_STYLE: 'true',
    });
    const ledger = await openTestLedger('sqlite', config.database.url);
    const archive = new ColdArchive(ledger, config);
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
    const keys = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!).sort();

    const ids = await seedFinishedJobs(ledger, 6, { ageDays: 5 });
    const before = await Promise.all(ids.map((id) => ledger.getJobDetail(id)));
    // An orphan of a move that never committed, left by a process killed between writing and committing.
    const orphan = 'ledger-a/seg_01ARZ3NDEKTSV4RRFFQ69G5FAV.ndjson.gz';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: orphan, Body: 'left over' }));

    const counts = await archive.run({ policy: { defaultDays: 1 }, segmentJobs: 4, orphanGraceMs: 0 });
    expect(counts).toMatchObject({ jobs: 6, segments: 2, orphans: 1 });
    const segments = await archive.list();
    expect(segments.every((s) => s.target === 's3' && s.location === `s3://${bucket}/ledger-a/`)).toBe(true);
    expect(await keys()).toEqual(segments.flatMap((s) => [`ledger-a/${s.id}.manifest.json`, `ledger-a/${s.id}.ndjson.gz`]).sort());
    for (const [i, id] of ids.entries()) expect(await archive.find(id)).toEqual(before[i]);
    expect((await archive.verify()).every((c) => c.ok)).toBe(true);

    const small = segments.find((s) => s.jobs === 2)!;
    const restored = await archive.restore({ segmentId: small.id, reason: 'needed again' });
    expect(restored).toMatchObject({ restored: true, jobs: 2 });
    expect((await keys()).some((k) => k.includes(small.id))).toBe(false);

    // Flip a byte of the other segment's object in the bucket.
    const big = segments.find((s) => s.jobs === 4)!;
    const key = `ledger-a/${big.id}.ndjson.gz`;
    const body = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    body[10]! ^= 0x80;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    const [check] = await archive.verify(big.id);
    expect(check).toMatchObject({ ok: false, problem: expect.stringContaining('SHA-256') as unknown });
    await expect(archive.restore({ segmentId: big.id })).rejects.toMatchObject({ code: 'JOBLEDGER_ARCHIVE_DAMAGED' });

    s3.destroy();
    await archive.close();
    await ledger.close();
  });
});
