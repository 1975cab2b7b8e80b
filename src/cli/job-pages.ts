/**
 * `jobledger jobs` reads the listing a page at a time, so that its memory stays bounded by one page
 * whatever `--limit` says: a job row can hold a payload, a result and a progress of up to 1 MiB each
 * (their caps), and 10,000 of them at once would need gigabytes. With `--json` each page is written
 * out before the next is read (one JSON array, as before); the table keeps only each job's summary.
 */
import { once } from 'node:events';
import type { JobRow } from '../store/entities/index.js';
import type { Ledger } from '../store/ledger.js';
import type { JobFilter } from '../store/queries.js';

/** Rows per page: at the caps' worst (about 3 MiB a row) a page stays in the tens of MB. */
export const jobPageSize = 10;

/** The jobs of `filter`, newest first, at most `limit` of them, one page at a time (keyset paging). */
export async function* jobPages(
  ledger: Pick<Ledger, 'listJobs'>,
  filter: Omit<JobFilter, 'limit' | 'offset' | 'before'>,
  limit: number,
  pageSize = jobPageSize,
): AsyncGenerator<JobRow[]> {
  let before: JobFilter['before'];
  for (let left = limit; left > 0; ) {
    const size = Math.min(pageSize, left);
    let page: JobRow[] | undefined = await ledger.listJobs({ ...filter, limit: size, ...(before ? { before } : {}) });
    const count = page.length;
    const last = page.at(-1);
    if (count > 0) yield page;
    page = undefined; // not kept while the next page is read
    if (count < size || !last) return;
    left -= count;
    before = { createdAt: last.createdAt, id: last.id };
  }
}

/** Writes the items of every page as one JSON array, waiting for `out` to drain between pages. */
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
