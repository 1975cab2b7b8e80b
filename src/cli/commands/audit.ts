/**
 * `jobledger audit`: the audit log, newest first — who retried, cancelled, changed state, restored a
 * snapshot, ran maintenance or changed a run's status, from where, why, and what changed.
 */
import type { Command } from 'commander';
import type { AuditRow } from '../../store/index.js';
import { withLedger } from '../context.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';
import { parseInteger, parseSince, parseTimeOption } from '../parse.js';

interface AuditOptions {
  actor?: string;
  since?: number;
  until?: number;
  subject?: string;
  action?: string[];
  limit: number;
  after?: string;
  json?: boolean;
}

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('the audit log of operator actions, newest first')
    .option('--actor <name>', 'only the actions of this actor')
    .option('--since <time>', 'at or after: ISO time or 15m, 2h, 7d', (raw) => parseSince(raw))
    .option('--until <time>', 'before: ISO time or 15m, 2h, 7d ago', (raw) => parseTimeOption('--until', raw))
    .option('--subject <id>', 'a job, run or snapshot id, a state entry (namespace/key) or a maintenance task')
    .option('--action <action>', 'e.g. job.retry, state.set (repeatable)', (raw: string, previous: string[] = []) => [...previous, raw])
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--after <audit-id>', 'the rows older than this one (the last row of the previous page)')
    .option('--json', 'print JSON')
    .action(async (opts: AuditOptions) => {
      await withLedger(async ({ ledger }) => {
        const rows = await ledger.listAudit({
          ...(opts.actor !== undefined ? { actor: opts.actor } : {}),
          ...(opts.since !== undefined ? { since: opts.since } : {}),
          ...(opts.until !== undefined ? { until: opts.until } : {}),
          ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
          ...(opts.action ? { action: opts.action.length === 1 ? opts.action[0]! : opts.action } : {}),
          ...(opts.after !== undefined ? { after: opts.after } : {}),
          limit: opts.limit,
        });
        if (opts.json) return printJson(rows);
        printTable(rows.map(auditLine), { keep: ['id', 'subject'] });
      });
    });
}

function auditLine(row: AuditRow): Record<string, string> {
  return {
    at: formatTime(row.createdAt),
    id: row.id,
    actor: row.actor,
    source: row.source,
    action: row.action,
    subject: row.subjectId ?? (row.count !== null ? `${row.count} jobs` : ''),
    reason: shorten(row.reason ?? '', 40),
    changes: shorten(describeChanges(row.changes), 60),
  };
}

/** `status: failed → pending, ...`: each changed field with its value before and after. */
function describeChanges(changes: unknown): string {
  if (typeof changes !== 'object' || changes === null) return '';
  return Object.entries(changes as Record<string, { before?: unknown; after?: unknown }>)
    .map(([field, change]) => `${field}: ${JSON.stringify(change.before ?? null)} → ${JSON.stringify(change.after ?? null)}`)
    .join(', ');
}
