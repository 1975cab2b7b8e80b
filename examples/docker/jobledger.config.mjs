// The configuration module the compose worker loads (mounted at /app/jobledger.config.mjs): it
// exports the job types the worker serves. Replace it with yours; it may import `jobledger` and
// `zod`, which the image carries.
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { defineJob } from 'jobledger';

export const wait = defineJob({
  name: 'example.wait',
  schema: z.object({ ms: z.number().int().min(0).max(600_000) }),
  async handler({ ms }, ctx) {
    await sleep(ms, undefined, { signal: ctx.signal }); // stops early if the attempt is aborted
    return { waitedMs: ms };
  },
});

export const jobs = [wait];
