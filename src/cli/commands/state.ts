/**
 * Commands for keyed state and snapshots: state get/set/delete/history/list, snapshots
 * list/create/restore. What an action needs beyond commander is imported inside it (cli/context.ts
 * says why).
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import type { SnapshotRow, StateEntryRow } from '../../store/index.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';
import { parseInteger, parseJsonObject } from '../parse.js';

export function registerStateCommands(program: Command, global: () => GlobalOptions): void {
  const state = program.command('state').description('keyed, versioned state (subcommands: get, set, delete, history, list, stats, flush-hot)');

  state
    .command('get <namespace> <key>')
    .description('one entry: status, version and data')
    .option('--include-deleted', 'also show a soft-deleted entry')
    .option('--json', 'print JSON')
    .action(async (namespace: string, key: string, opts: { includeDeleted?: boolean; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const entry = await jl.state.get(namespace, key, { includeDeleted: opts.includeDeleted ?? false });
        if (opts.json) return printJson(entry);
        printTable([
          { field: 'entry', value: `${entry.namespace}/${entry.key}` },
          { field: 'status', value: entry.status + (entry.deletedAt !== null ? ` (deleted ${formatTime(entry.deletedAt)})` : '') },
          { field: 'version', value: entry.version },
          { field: 'created', value: formatTime(entry.createdAt) },
          { field: 'updated', value: formatTime(entry.updatedAt) },
          { field: 'data', value: JSON.stringify(entry.data) },
        ]);
      });
    });

  state
    .command('set <namespace> <key>')
    .description('create or replace an entry (a soft-deleted one comes back)')
    .requiredOption('--data <json>', 'the data, as JSON (required)')
    .option('--expected-version <n>', 'only if the entry is at this version (0: only if it does not exist)', parseInteger('--expected-version', 0))
    .option('--status <status>', 'the new status (default: unchanged, "active" for a new entry)')
    .option('--reason <text>', 'why (kept on the transition)')
    .option('--actor <name>', 'who (default: the OS user)')
    .option('--json', 'print JSON')
    .action(
      async (
        namespace: string,
        key: string,
        opts: { data: string; expectedVersion?: number; status?: string; reason?: string; actor?: string; json?: boolean },
      ) => {
        const data = parseJsonObject('--data', opts.data);
        await withJobLedger(global(), {}, async (jl) => {
          const entry = await jl.state.set(namespace, key, data, {
            ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
            ...(opts.status !== undefined ? { status: opts.status } : {}),
            ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
            actor: await actorOr(opts.actor),
          source: 'cli',
          });
          printEntry(entry, opts.json);
        });
      },
    );

  state
    .command('delete <namespace> <key>')
    .description('soft-delete an entry (its history stays; set brings it back)')
    .option('--expected-version <n>', 'only if the entry is at this version', parseInteger('--expected-version', 0))
    .option('--reason <text>', 'why (kept on the transition)')
    .option('--actor <name>', 'who (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (namespace: string, key: string, opts: { expectedVersion?: number; reason?: string; actor?: string; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const entry = await jl.state.delete(namespace, key, {
          ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
          actor: await actorOr(opts.actor),
          source: 'cli',
        });
        printEntry(entry, opts.json);
      });
    });

  state
    .command('history <namespace> <key>')
    .description("an entry's transitions, oldest first")
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 1000)
    .option('--json', 'print JSON')
    .action(async (namespace: string, key: string, opts: { limit: number; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const history = await jl.state.history(namespace, key, { limit: opts.limit });
        if (opts.json) return printJson(history);
        printTable(
          history.map((t) => ({
            version: t.versionAfter,
            change: t.change,
            status: t.statusBefore !== null && t.statusBefore !== t.statusAfter ? `${t.statusBefore} -> ${t.statusAfter}` : t.statusAfter,
            at: formatTime(t.createdAt),
            actor: t.actor,
            job: t.jobId ?? '',
            reason: shorten(t.reason ?? '', 60),
            data: shorten(JSON.stringify(t.dataAfter), 50),
          })),
        );
      });
    });

  state
    .command('list <namespace>')
    .description('entries of a namespace in key order')
    .option('--prefix <text>', 'only keys starting with this text ("%" and "_" are literal)')
    .option('--include-deleted', 'also list soft-deleted entries')
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 100)
    .option('--json', 'print JSON')
    .action(async (namespace: string, opts: { prefix?: string; includeDeleted?: boolean; limit: number; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const entries = await jl.state.list(namespace, {
          ...(opts.prefix !== undefined ? { prefix: opts.prefix } : {}),
          includeDeleted: opts.includeDeleted ?? false,
          limit: opts.limit,
        });
        if (opts.json) return printJson(entries);
        printTable(
          entries.map((e) => ({
            key: e.key,
            status: e.status + (e.deletedAt !== null ? ' (deleted)' : ''),
            version: e.version,
            updated: formatTime(e.updatedAt),
            data: shorten(JSON.stringify(e.data), 60),
          })),
        );
      });
    });

  state
    .command('stats')
    .description("the hot tiers' statistics: what each running process published, summed, and what Redis holds")
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const published = await jl.state.publishedStats();
        if (opts.json) return printJson({ enabled: jl.config.stateHot.enabled, ...published });
        if (!jl.config.stateHot.enabled) process.stdout.write('hot tiers: off (JOBLEDGER_STATE_HOT=false); every read goes to SQL\n');
        const redis = published.redis;
        process.stdout.write(
          `processes publishing: ${published.processes.length}; Redis tier holds ${redis ? `${redis.entries} entries, ${redis.bytes} bytes` : 'unknown (Redis did not answer)'}\n`,
        );
        if (published.processes.length === 0) {
          process.stdout.write('statistics are per process: workers and applications with the tiers on publish theirs every JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS once they have read state\n');
          return;
        }
        const { tiers } = published.total;
        printTable(
          (['lru', 'redis', 'sql'] as const).map((name) => ({
            tier: name,
            reads: tiers[name].reads,
            hits: tiers[name].hits,
            misses: tiers[name].misses,
            'hit ratio': tiers[name].hitRatio.toFixed(3),
            'p50 ms': tiers[name].p50Ms ?? '',
            'p99 ms': tiers[name].p99Ms ?? '',
            promoted: tiers[name].promotions,
            demoted: tiers[name].demotions,
            'bad checksum': tiers[name].checksumFailures,
            invalidated: tiers[name].invalidations,
            'stale skipped': tiers[name].staleSkips,
            bytes: name === 'redis' ? (redis?.bytes ?? '') : (tiers[name].bytesHeld ?? ''),
          })),
        );
        process.stdout.write(
          `reads: ${published.total.reads}; SQL reads because Redis was away: ${published.total.sqlFallbacks}; writes without Redis: ${published.total.writesWithoutRedis} (${published.total.pendingRepairs} keys awaiting repair); p50/p99: the worst process's\n`,
        );
      });
    });

  state
    .command('flush-hot')
    .description('drop every value the hot tiers hold (Redis and every LRU); they refill from SQL. After restoring a backup.')
    .action(async () => {
      await withJobLedger(global(), {}, async (jl) => {
        const removed = await jl.state.flushHot();
        process.stdout.write(`dropped ${removed} Redis entries; every process's LRU was told\n`);
      });
    });

  const snapshots = program.command('snapshots').description('point-in-time copies of state entries and pipelines (subcommands: list, create, restore)');

  snapshots
    .command('list')
    .description('snapshots, newest first')
    .option('--subject <id>', 'one subject: namespace/key for a state entry, pip_... for a pipeline')
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { subject?: string; limit: number; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const list = await jl.state.listSnapshots({ ...(opts.subject !== undefined ? await subjectFilter(opts.subject) : {}), limit: opts.limit });
        if (opts.json) return printJson(list);
        printTable(list.map(snapshotLine));
      });
    });

  snapshots
    .command('create <namespace> <key>')
    .description("copy a state entry's data into a snapshot; prints its id")
    .option('--description <text>', 'shown in listings')
    .option('--ttl-ms <ms>', 'expire (and be rotated out) this long from now', parseInteger('--ttl-ms', 1))
    .option('--actor <name>', 'who (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (namespace: string, key: string, opts: { description?: string; ttlMs?: number; actor?: string; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const snapshot = await jl.state.snapshot(namespace, key, {
          ...(opts.description !== undefined ? { description: opts.description } : {}),
          ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
          actor: await actorOr(opts.actor),
        });
        if (opts.json) printJson(snapshot);
        else process.stdout.write(`${snapshot.id}\n`);
      });
    });

  snapshots
    .command('restore <snapshot-id>')
    .description("write a snapshot's data back to its state entry as a new version (checksum verified first)")
    .option('--reason <text>', 'why (the transition also names the snapshot)')
    .option('--expected-version <n>', 'only if the entry is at this version', parseInteger('--expected-version', 0))
    .option('--actor <name>', 'who (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (snapshotId: string, opts: { reason?: string; expectedVersion?: number; actor?: string; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const entry = await jl.state.restoreSnapshot(snapshotId, {
          ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
          ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
          actor: await actorOr(opts.actor),
          source: 'cli',
        });
        printEntry(entry, opts.json);
      });
    });
}

/** Who acts when `--actor` is not given: the OS user (jobs/operator.ts). */
async function actorOr(actor: string | undefined): Promise<string> {
  if (actor !== undefined) return actor;
  const { defaultActor } = await import('../../jobs/operator.js');
  return defaultActor();
}

function printEntry(entry: StateEntryRow, json: boolean | undefined): void {
  if (json) return printJson(entry);
  printTable([
    { entry: `${entry.namespace}/${entry.key}`, version: entry.version, status: entry.status, deleted: entry.deletedAt !== null ? formatTime(entry.deletedAt) : '' },
  ]);
}

function snapshotLine(s: SnapshotRow) {
  return {
    id: s.id,
    subject: `${s.subjectType} ${s.subjectId}`,
    version: s.subjectVersion,
    created: formatTime(s.createdAt),
    expires: formatTime(s.expiresAt),
    checksum: s.checksum.slice(0, 12),
    description: shorten(s.description ?? '', 40),
  };
}

/** `namespace/key` names a state entry, `pip_...` a pipeline. */
async function subjectFilter(subject: string): Promise<{ subjectType: 'state' | 'pipeline'; subjectId: string }> {
  const { isId, parseStateSubjectId } = await import('../../store/index.js');
  if (isId('pip', subject)) return { subjectType: 'pipeline', subjectId: subject };
  if (parseStateSubjectId(subject)) return { subjectType: 'state', subjectId: subject };
  throw new InvalidOptionError('--subject', 'namespace/key (a state entry) or pip_... (a pipeline)', subject);
}
