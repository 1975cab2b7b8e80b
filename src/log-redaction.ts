/**
 * What keeps secrets out of the logs. Three layers, each catching what the one before cannot:
 *
 *  1. Errors are logged as plain objects built here (`serializeErrorForLog`, pino's `err`
 *     serializer). ioredis errors carry the command that failed with its arguments (AUTH's carry
 *     the password), driver errors carry the SQL statement with its values inlined and the row's
 *     values in `detail`, Node's URL errors carry the URL as `input`: arguments, statements, values
 *     and connection strings are dropped, URLs in messages and stacks are masked (mask-url.ts).
 *  2. pino `redact`: fields named like a password, a token or a connection URL, up to two levels
 *     down in a log object, are censored (a URL is masked, anything else replaced).
 *  3. The last line: every line the logger writes is scrubbed of the secrets this process was
 *     configured with (the passwords in REDIS_URL and DATABASE_URL), whatever path brought them
 *     there: a message string, a handler's own fields. Secrets shorter than 4 characters are left to
 *     layers 1 and 2 (scrubbing them would garble every line).
 *
 * A logger the application passes in gets layers 1 and 2 through a child (`guardLogger`): pino
 * cannot add a write hook to a logger that exists already.
 */
import type { Logger, LoggerOptions } from 'pino';
import { maskUrl, maskUrlsInText } from './mask-url.js';

/** Shortest configured secret the last-line scrubber looks for. */
export const minScrubbedSecretLength = 4;

/** Error fields never logged: command arguments, SQL and its values, driver details, credentials. */
const droppedErrorFields = new Set([
  'args',
  'password',
  'pass',
  'sql',
  'query',
  'parameters',
  'params',
  'bindings',
  'detail',
  'internalQuery',
  'connectionString',
  'options',
  'input',
]);

const redactedKeys = ['password', 'pass', 'passwd', 'secret', 'token', 'authorization', 'apiKey', 'connectionString', 'redisUrl', 'databaseUrl', 'url'];

/** pino's `redact` option: the keys above at the top level and one or two levels down. */
export const logRedact: NonNullable<LoggerOptions['redact']> = {
  paths: redactedKeys.flatMap((key) => [key, `*.${key}`, `*.*.${key}`]),
  censor: (value: unknown, path: string[]): unknown => {
    const key = path.at(-1) ?? '';
    if (/url$|connectionString/i.test(key) && typeof value === 'string') return maskUrl(value);
    return '[redacted]';
  },
};

/** pino's `serializers` option. */
export const logSerializers = { err: serializeErrorForLog, error: serializeErrorForLog };

/** A logger of the application's, wrapped so that its lines get layers 1 and 2. */
export function guardLogger(logger: Logger): Logger {
  return logger.child({}, { serializers: logSerializers, redact: logRedact });
}

/**
 * The last-line scrubber for pino's `hooks.streamWrite`: replaces each secret (as given and as it
 * appears inside a JSON string) with `***`. `undefined` when there is nothing to look for.
 */
export function secretScrubber(secrets: readonly string[]): ((line: string) => string) | undefined {
  const targets = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < minScrubbedSecretLength) continue;
    targets.add(secret);
    targets.add(JSON.stringify(secret).slice(1, -1));
  }
  if (targets.size === 0) return undefined;
  // Longer first, so that a secret containing another is replaced whole.
  const ordered = [...targets].sort((a, b) => b.length - a.length);
  return (line) => {
    let text = line;
    for (const target of ordered) if (text.includes(target)) text = text.split(target).join('***');
    return text;
  };
}

/** Removes `secrets` (and URL credentials) from a message shown to a user, such as the CLI's one-line error. */
export function redactText(text: string, secrets: readonly string[]): string {
  const masked = maskUrlsInText(withoutStatement(text));
  return secretScrubber(secrets)?.(masked) ?? masked;
}

/**
 * An error as a plain object that is safe to log: type, message, stack, code and the other fields
 * of the error that hold no arguments, statements or credentials, its `cause` and, for an
 * AggregateError, its `errors`. Never throws, whatever getters the error has.
 */
export function serializeErrorForLog(error: unknown): unknown {
  return serialize(error, 0, new WeakSet());
}

const maxDepth = 5;

/** A value nothing can be read from (a revoked Proxy, say). */
const unreadable = '[unreadable value]';

function serialize(error: unknown, depth: number, seen: WeakSet<object>): unknown {
  return orElse(() => serializeReadable(error, depth, seen), unreadable);
}

function serializeReadable(error: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (!isErrorLike(error)) return sanitize(error, depth, seen);
  if (seen.has(error) || depth > maxDepth) return '[error seen above]';
  seen.add(error);
  const message = read(() => error.message);
  const out: Record<string, unknown> = {
    type: read(() => (typeof error.constructor === 'function' && error.constructor.name) || error.name) ?? 'Error',
    message: cleanText(message),
  };
  const stack = read(() => error.stack);
  if (typeof stack === 'string') {
    // The stack repeats the message (a statement may span lines): replace it as a whole first.
    const withCleanMessage = typeof message === 'string' && message !== '' ? stack.split(message).join(withoutStatement(message)) : stack;
    out.stack = cleanText(withCleanMessage);
  }
  for (const key of read(() => Object.keys(error)) ?? []) {
    if (key in out || droppedErrorFields.has(key)) continue;
    const value = read(() => (error as unknown as Record<string, unknown>)[key]);
    // ioredis: `command: { name, args }`; the name says what failed, the args may be a password.
    if (key === 'command') out.command = commandName(value);
    else out[key] = isErrorLike(value) ? serialize(value, depth + 1, seen) : sanitize(value, depth + 1, seen);
  }
  const cause = read(() => (error as { cause?: unknown }).cause);
  if (cause !== undefined && !('cause' in out)) out.cause = serialize(cause, depth + 1, seen);
  const errors = read(() => (error as { errors?: unknown }).errors);
  if (Array.isArray(errors)) out.errors = errors.slice(0, 20).map((e) => serialize(e, depth + 1, seen));
  return out;
}

function sanitize(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  return orElse(() => sanitizeReadable(value, depth, seen), unreadable);
}

function sanitizeReadable(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return cleanText(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (typeof value !== 'object' || value === null) return value;
  if (isErrorLike(value)) return serialize(value, depth, seen);
  if (seen.has(value) || depth > maxDepth) return '[object]';
  seen.add(value);
  if (Array.isArray(value)) return value.slice(0, 50).map((item) => sanitize(item, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const key of read(() => Object.keys(value)) ?? []) {
    if (droppedErrorFields.has(key)) continue;
    out[key] = key === 'command' ? commandName(read(() => (value as Record<string, unknown>)[key])) : sanitize(read(() => (value as Record<string, unknown>)[key]), depth + 1, seen);
  }
  return out;
}

function commandName(command: unknown): unknown {
  const name = read(() => (command as { name?: unknown } | null)?.name);
  return typeof name === 'string' ? { name } : undefined;
}

/** Masks URLs and withholds an SQL statement at the head of a driver message. */
function cleanText(text: unknown): string {
  return typeof text === 'string' ? maskUrlsInText(withoutStatement(text)) : '';
}

/**
 * Drivers (through knex and MikroORM) report a failed statement as `<the statement with its values
 * inlined> - <the database's message>`: keep the database's message only.
 */
function withoutStatement(text: string): string {
  const statement = /^\s*(select|insert|update|delete|with|pragma|create|alter|drop|begin|commit|rollback|savepoint|release|set|truncate|copy)\s/i;
  const separator = text.lastIndexOf(' - ');
  if (separator < 0 || !statement.test(text)) return text;
  return `[SQL statement withheld] - ${text.slice(separator + 3)}`;
}

function isErrorLike(value: unknown): value is Error {
  return (
    read(
      () =>
        value instanceof Error ||
        (typeof value === 'object' && value !== null && typeof (value as Error).message === 'string' && typeof (value as Error).stack === 'string'),
    ) ?? false
  );
}

function read<T>(get: () => T): T | undefined {
  return orElse(get, undefined);
}

function orElse<T, F>(get: () => T, fallback: F): T | F {
  try {
    return get();
  } catch {
    return fallback;
  }
}
