/**
 * `jobledger search TEXT`: full-text search over jobs' error messages, payloads and notable events
 * (docs/search.md), newest job first. Words must all match, "quoted phrases" match in order,
 * `word*` matches a prefix; the filters narrow by time, job type, queue and status. A page ends
 * with the `--before` value of the next one.
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
// Not the store's index: `jobledger --help` must not load the ORM (test/cli-startup.test.ts).
import { jobStatuses, searchFields, type JobStatus, type SearchField } from '../../store/vocabulary.js';
import type { TextSearchResult } from '../../store/index.js';
import { withLedger } from '../context.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';
import { parseInteger, parseSince, parseTimeOption } from '../parse.js';

interface SearchOptions {
  since?: number;
  until?: number;
  type?: string[];
  queue?: string[];
  status?: JobStatus[];
  field?: SearchField[];
  limit: number;
  before?: { createdAt: number; id: string };
  json?: boolean;
}

const repeatable = <T extends string>(parse: (raw: string) => T) => (raw: string, previous: T[] = []) => [...previous, parse(raw)];

export function registerSearchCommand(program: Command): void {
  program
    .command('search')
    .description('full-text search over error messages, payloads and event text, newest job first')
    .argument('<text>', 'words (all must match), "quoted phrases", word* for a prefix')
    .option('--since <time>', 'jobs created at or after: ISO time or 15m, 2h, 7d', (raw) => parseSince(raw))
    .option('--until <time>', 'jobs created before: ISO time or 15m, 2h, 7d ago', (raw) => parseTimeOption('--until', raw))
    .option('--type <name>', 'job type (repeatable)', repeatable((raw) => raw))
    .option('--queue <queue>', 'queue (repeatable)', repeatable((raw) => raw))
    .option('--status <status>', `${jobStatuses.join(', ')} (repeatable)`, repeatable((raw) => oneOf('--status', jobStatuses, raw)))
    .option('--field <field>', `search only ${searchFields.join(', ')} (repeatable)`, repeatable((raw) => oneOf('--field', searchFields, raw)))
    .option('--limit <n>', 'hits per page', parseInteger('--limit', 1, 1000), 50)
    .option('--before <cursor>', 'the next page: the cursor the previous page ended with', parseCursor)
    .option('--json', 'print JSON: { hits, next, indexBehind }')
    .action(async (text: string, opts: SearchOptions) => {
      await withLedger(async ({ ledger }) => {
        const { fullTextSearch } = await import('../../store/index.js');
        const result = await fullTextSearch(ledger, text, {
          ...(opts.since !== undefined ? { since: opts.since } : {}),
          ...(opts.until !== undefined ? { until: opts.until } : {}),
          ...(opts.type ? { name: opts.type } : {}),
          ...(opts.queue ? { queue: opts.queue } : {}),
          ...(opts.status ? { status: opts.status } : {}),
          ...(opts.field ? { fields: [...new Set(opts.field)] } : {}),
          ...(opts.before ? { before: opts.before } : {}),
          limit: opts.limit,
        });
        if (opts.json) return printJson({ ...result, next: result.next ? cursorOf(result.next) : null });
        printHits(result);
      });
    });
}

function printHits(result: TextSearchResult): void {
  if (result.indexBehind) process.stderr.write('jobledger: the search index is still catching up with the event log; the newest jobs may be missing\n');
  if (result.hits.length === 0) {
    process.stdout.write('no matching jobs\n');
    return;
  }
  printTable(
    result.hits.map((h) => ({
      created: formatTime(h.createdAt),
      id: h.jobId,
      type: h.name,
      status: h.status,
      matched: h.fields.join(','),
      snippet: shorten(h.snippet, 100),
    })),
    { keep: ['id'] },
  );
  if (result.next) process.stdout.write(`more: --before ${cursorOf(result.next)}\n`);
}

/** `createdAt.job_id`, as the console's cursors. */
function cursorOf(position: { createdAt: number; id: string }): string {
  return `${position.createdAt}.${position.id}`;
}

function parseCursor(raw: string): { createdAt: number; id: string } {
  const match = /^(\d{1,16})\.(job_[0-9A-HJKMNP-TV-Z]{26})$/.exec(raw);
  if (!match) throw new InvalidOptionError('--before', 'the cursor a previous page ended with (createdAt.job_id)', raw);
  return { createdAt: Number(match[1]), id: match[2]! };
}

function oneOf<T extends string>(option: string, values: readonly T[], raw: string): T {
  if (!(values as readonly string[]).includes(raw)) throw new InvalidOptionError(option, `one of ${values.join(', ')}`, raw);
  return raw as T;
}
