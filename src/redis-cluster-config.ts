/**
 * Redis Cluster settings: the seed nodes (`JOBLEDGER_REDIS_CLUSTER_NODES`) and the rule on the key
 * prefix. In a cluster every key lives in one of 16384 hash slots, and a command or Lua script may
 * only touch keys of one slot. BullMQ's scripts touch several keys of a queue at once (its wait
 * list, its active list, the job's hash, ...), and jobledger's own keys (the prefix claim, worker
 * health, the cancel and events channels) sit beside them. Redis hashes only the part of a key
 * between the first `{` and the next `}` when there is one, so a prefix like `{jobledger}` puts
 * every key of the prefix in one slot; without it the queue's keys scatter and every script fails
 * with CROSSSLOT. So a cluster prefix without a hash tag is refused at startup.
 */
import { InvalidConfigError, RedisClusterPrefixError } from './errors.js';

export interface RedisNode {
  host: string;
  port: number;
}

/** Parses `host:port,host:port,...` (IPv6 as `[::1]:7000`); an empty string is no nodes (no cluster). */
export function parseClusterNodes(raw: string): RedisNode[] {
  return parseRedisNodes('JOBLEDGER_REDIS_CLUSTER_NODES', 'seed nodes', raw);
}

/**
 * `host:port` list of variable `name` (IPv6 as `[::1]:7000`), `what` naming the nodes in the error;
 * an empty string is no nodes.
 */
export function parseRedisNodes(name: string, what: string, raw: string): RedisNode[] {
  if (raw.trim() === '') return [];
  return raw.split(',').map((item) => {
    const text = item.trim();
    const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(text);
    const port = match ? Number(match[2]) : NaN;
    if (!match || port < 1 || port > 65535) {
      throw new InvalidConfigError(`${name}: expected host:port ${what} separated by commas (e.g. redis-1:6379,redis-2:6379), got ${JSON.stringify(text)}`);
    }
    return { host: match[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  });
}

/** The hash tag Redis would use for keys starting with `prefix:`, or `undefined` if it has none. */
export function prefixHashTag(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  if (open < 0) return undefined;
  const close = prefix.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return undefined;
  return prefix.slice(open + 1, close);
}

/** Throws `RedisClusterPrefixError` unless `prefix` carries a non-empty hash tag. */
export function checkClusterPrefix(prefix: string): void {
  if (prefixHashTag(prefix) === undefined) throw new RedisClusterPrefixError(prefix);
}

/** `host:port,host:port` for messages. */
export function describeClusterNodes(nodes: readonly RedisNode[]): string {
  return nodes.map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`)).join(',');
}
