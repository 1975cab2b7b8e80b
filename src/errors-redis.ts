/**
 * Errors of the Redis transport: unreachable, refused credentials, an evicting policy, and a prefix
 * another ledger holds.
 */
import { maskUrl } from './mask-url.js';
import { JobLedgerError } from './errors-base.js';

/** Redis could not be reached. The URL is shown masked. */
export class RedisUnavailableError extends JobLedgerError {
  constructor(url: string, cause: unknown) {
    super(
      'JOBLEDGER_REDIS_UNAVAILABLE',
      `cannot reach Redis at ${maskUrl(url)}; start one with "docker compose up -d redis" or a local "redis-server", or set REDIS_URL`,
      { cause },
    );
  }
}

/**
 * Redis is configured so that it may drop queued jobs on its own (`maxmemory-policy` other than
 * `noeviction`): a worker refuses to start on it unless told this is a development setup.
 */
export class UnsafeRedisError extends JobLedgerError {
  constructor(readonly maxmemoryPolicy: string) {
    super(
      'JOBLEDGER_UNSAFE_REDIS',
      `Redis maxmemory-policy is ${JSON.stringify(maxmemoryPolicy)}, expected "noeviction": under memory pressure Redis would ` +
        `evict queued jobs (the ledger keeps them, but they wait for the next reconcile). Set it with ` +
        `"redis-cli CONFIG SET maxmemory-policy noeviction" and "maxmemory-policy noeviction" in redis.conf; for development ` +
        `only, start anyway with allowEvictingRedis: true (jobledger worker --allow-evicting-redis, JOBLEDGER_ALLOW_EVICTING_REDIS=true)`,
    );
  }
}

/**
 * Redis answered but refused the credentials of REDIS_URL (WRONGPASS, NOAUTH, an ACL user that is
 * disabled or may not run the command): starting a Redis will not help, the password or user will.
 */
export class RedisAuthError extends JobLedgerError {
  constructor(url: string, redisReply: string, cause?: unknown) {
    super(
      'JOBLEDGER_REDIS_AUTH_FAILED',
      `Redis at ${maskUrl(url)} refused the credentials (${redisReply.split('\n')[0]!.slice(0, 200)}); ` +
        `check the user and password in REDIS_URL (redis://user:password@host:port, or redis://:password@host:port without ACL users)`,
      { cause },
    );
  }
}

/** Who holds a Redis prefix: a ledger's identity and where its database is (masked). */
export interface PrefixOwner {
  ledger: string;
  database: string;
}

/**
 * The Redis prefix is claimed by another ledger: two ledgers on one prefix would each meet the
 * other's jobs, find no row for them and fail them, or run them twice.
 */
export class RedisPrefixTakenError extends JobLedgerError {
  constructor(
    readonly prefix: string,
    readonly ours: PrefixOwner,
    readonly holder: PrefixOwner,
    readonly key: string,
  ) {
    super(
      'JOBLEDGER_REDIS_PREFIX_TAKEN',
      `the Redis prefix ${JSON.stringify(prefix)} belongs to ledger ${holder.ledger} (database ${holder.database}); this is ledger ${ours.ledger} ` +
        `(database ${ours.database}). Give each ledger its own prefix: set JOBLEDGER_REDIS_PREFIX. If ledger ${holder.ledger} is gone for good, ` +
        `delete the Redis key ${JSON.stringify(key)} to free the prefix`,
    );
  }
}
