/**
 * Redis errors, classified and logged without flooding. ioredis reports an error at every
 * reconnection attempt of every connection (a worker holds four or more), and BullMQ repeats them
 * as worker errors: a Redis that refuses the password, or is gone, would write the same line
 * thousands of times. So each kind of error (credentials refused, connection lost, anything else by
 * its message) is logged at once the first time; the repeats are counted, and once per interval
 * one line says how many came, from which connections, and what the last one said. An interval
 * without any repeat ends the episode: the next error is logged at once again.
 *
 * The errors pass through the logger's redaction (log-redaction.ts): an ioredis AUTH error's
 * arguments (the password) are never written.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from '../logger.js';
import { maskUrl } from '../mask-url.js';

export type RedisErrorKind = 'auth' | 'connection' | 'other';

const authPattern = /\b(WRONGPASS|NOAUTH|NOPERM)\b|invalid (username-)?password|authentication required/i;
const connectionCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const connectionPattern = /connection is closed|stream isn't writeable|socket closed unexpectedly|connect ETIMEDOUT|max retries per request|timed out after/i;

/** Redis refused the credentials (WRONGPASS, NOAUTH) or the ACL user may not run a command (NOPERM). */
export function isRedisAuthError(error: unknown): boolean {
  return authPattern.test(messageOf(error));
}

export function redisErrorKind(error: unknown): RedisErrorKind {
  if (isRedisAuthError(error)) return 'auth';
  const code = (error as { code?: unknown } | null)?.code;
  if ((typeof code === 'string' && connectionCodes.has(code)) || connectionPattern.test(messageOf(error))) return 'connection';
  return 'other';
}

interface Episode {
  kind: RedisErrorKind;
  /** Errors since the last line written for this episode. */
  count: number;
  sources: Set<string>;
  last: unknown;
  timer: NodeJS.Timeout;
}

export interface RedisErrorLogOptions {
  /** How often a persisting error is logged again, with its count. Default 30000. */
  intervalMs?: number;
  /** The Redis URL, shown masked on each line. */
  url?: string;
}

export class RedisErrorLog {
  private readonly episodes = new Map<string, Episode>();
  private readonly intervalMs: number;
  private readonly redis: string | undefined;

  constructor(
    private readonly logger: Logger,
    options: RedisErrorLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 30_000;
    this.redis = options.url === undefined ? undefined : maskUrl(options.url);
  }

  /** Routes a client's (or a BullMQ object's) `error` events here, under `source`. */
  watch(emitter: Pick<EventEmitter, 'on'>, source: string): void {
    emitter.on('error', (error: unknown) => this.report(source, error));
  }

  /** One error seen by `source` (a connection's or a component's name). */
  report(source: string, error: unknown): void {
    const kind = redisErrorKind(error);
    const key = kind === 'other' ? `other:${messageOf(error).replace(/\d+/g, 'N').slice(0, 200)}` : kind;
    const episode = this.episodes.get(key);
    if (episode) {
      episode.count++;
      episode.sources.add(source);
      episode.last = error;
      return;
    }
    const fields = { ...(this.redis ? { redis: this.redis } : {}), source, err: error };
    if (kind === 'auth') {
      this.logger.error(fields, 'Redis refused the credentials of REDIS_URL; reconnecting, but only the right user and password (and a restart with them) will fix this');
    } else if (kind === 'connection') {
      this.logger.warn(fields, 'Redis connection error; reconnecting');
    } else {
      this.logger.warn(fields, 'error from Redis or BullMQ');
    }
    this.episodes.set(key, { kind, count: 0, sources: new Set(), last: error, timer: this.schedule(key) });
  }

  /** Writes the counts still pending and stops the timers. */
  close(): void {
    for (const key of [...this.episodes.keys()]) this.flush(key, true);
  }

  private schedule(key: string): NodeJS.Timeout {
    const timer = setTimeout(() => this.flush(key, false), this.intervalMs);
    timer.unref();
    return timer;
  }

  private flush(key: string, closing: boolean): void {
    const episode = this.episodes.get(key);
    if (!episode) return;
    clearTimeout(episode.timer);
    if (episode.count === 0) {
      this.episodes.delete(key);
      return;
    }
    const level = episode.kind === 'auth' ? 'error' : 'warn';
    this.logger[level](
      {
        ...(this.redis ? { redis: this.redis } : {}),
        kind: episode.kind,
        repeats: episode.count,
        intervalMs: this.intervalMs,
        sources: [...episode.sources].sort(),
        err: episode.last,
      },
      `Redis ${episode.kind === 'auth' ? 'still refuses the credentials' : episode.kind === 'connection' ? 'connection errors go on' : 'error repeated'}: ${episode.count} more since the last line`,
    );
    if (closing) {
      this.episodes.delete(key);
      return;
    }
    episode.count = 0;
    episode.sources.clear();
    episode.timer = this.schedule(key);
  }
}

function messageOf(error: unknown): string {
  try {
    const message = (error as { message?: unknown } | null)?.message;
    return typeof message === 'string' ? message : String(error);
  } catch {
    return '';
  }
}
