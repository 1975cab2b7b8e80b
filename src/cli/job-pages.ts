/**
 * `jobledger jobs` and `jobledger events` read their listing a page at a time, so that their memory
 * stays bounded by one page whatever `--limit` says: a job row can hold a payload, a result and a
 * progress of up to 1 MiB each (their caps), a `job.progress` event a progress, and 10,000 of them at
 * once would need gigabytes. With `--json` each row is written out as it comes (one JSON array, as
 * before); the table keeps only each row's summary.
 */
import { once } from 'node:events';
import type { EventFilter, EventRow, JobFilter, JobRow, Ledger } from '../store/index.js';

/** Rows per page: at the caps' worst (about 3 MiB a job) a page stays in the tens of MB. */
export const pageSize = 10;

type Cursor = { createdAt: number; id: string };

/**
 * At most `limit` rows, newest first, one page at a time: each page is read after the last row of
 * the previous one (keyset paging), so none repeats or is skipped when new rows arrive meanwhile.
 */
async function* pagesOf<Row extends Cursor>(read: (size: number, before: Cursor | undefined) => Promise<Row[]>, limit: number, size: number): AsyncGenerator<Row[]> {
  let before: Cursor | undefined;
  for (let left = limit; left > 0; ) {
    const want = Math.min(size, left);
    let page: Row[] | undefined = await read(want, before);
    const count = page.length;
    const last = page.at(-1);
    if (count > 0) yield page;
    page = undefined; // not kept while the next page is read
    if (count < want || !last) return;
    left -= count;
    before = { createdAt: last.createdAt, id: last.id };
  }
}

/** The jobs of `filter`, newest first, at most `limit` of them, a page at a time. */
export function jobPages(
  ledger: Pick<Ledger, 'listJobs'>,
  filter: Omit<JobFilter, 'limit' | 'offset' | 'before'>,
  limit: number,
  size = pageSize,
): AsyncGenerator<JobRow[]> {
  return pagesOf((want, before) => ledger.listJobs({ ...filter, limit: want, ...(before ? { before } : {}) }), limit, size);
}

/** The events of `filter`, newest first, at most `limit` of them, a page at a time. */
export function eventPages(
  ledger: Pick<Ledger, 'listEvents'>,
  filter: Omit<EventFilter, 'limit' | 'before'>,
  limit: number,
  size = pageSize,
): AsyncGenerator<EventRow[]> {
  return pagesOf((want, before) => ledger.listEvents({ ...filter, limit: want, ...(before ? { before } : {}) }), limit, size);
}

/** Writes the items of every page as one JSON array, waiting for `out` to drain when it asks. */
export async function writeJsonArray(pages: AsyncIterable<readonly unknown[]> | Iterable<readonly unknown[]>, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  let first = true;
  await write(out, '[');
  for await (const page of pages) {
    for (const item of page) {
      await write(out, `${first ? '' : ','}${JSON.stringify(item)}`);
      first = false;
    }
  }
  await write(out, ']\n');
}

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}
