/**
 * The one URL-masking function (src/mask-url.ts) over hostile URLs: credentials without a user,
 * passwords in the query string, `@`, `/`, `#` and spaces inside passwords, unparseable URLs; and
 * the configuration errors and SQLite paths that go through it.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseDatabaseUrl } from '../src/config.js';
import { InvalidConfigError } from '../src/errors.js';
import { maskUrl, maskUrlsInText, urlSecrets } from '../src/mask-url.js';

const secret = 's3cr3t';

const cases: [string, string, string][] = [
  ['a user-less password', `redis://:${secret}@127.0.0.1:6379`, 'redis://:***@127.0.0.1:6379'],
  ['a user and a password', `redis://app:${secret}@cache:6379/2`, 'redis://app:***@cache:6379/2'],
  ['TLS with an ACL user', `rediss://default:${secret}@cache:6380`, 'rediss://default:***@cache:6380'],
  ['an @ inside the password', `postgres://app:s3c@r3t@db:5432/ledger`, 'postgres://app:***@db:5432/ledger'],
  ['several @ and : inside the password', `redis://:a@b:c@${secret}@h:1`, 'redis://:***@h:1'],
  ['a / inside the password', `redis://:pa/${secret}@h:6379`, 'redis://:***@h:6379'],
  ['a # inside the password', `redis://:pa#${secret}@h:6379`, 'redis://:***@h:6379'],
  ['a ? inside the password', `redis://:pa?${secret}@h:6379`, 'redis://:***@h:6379'],
  ['a space inside the password', `redis://:pa ${secret}@h:6379`, 'redis://:***@h:6379'],
  ['a percent-encoded password', `redis://:p%40${secret}@h:6379`, 'redis://:***@h:6379'],
  ['a password in the query string', `postgres://db:5432/ledger?password=${secret}&sslmode=require`, 'postgres://db:5432/ledger?password=***&sslmode=require'],
  ['an upper-case query parameter', `postgres://db/ledger?sslmode=require&PASSWORD=${secret}`, 'postgres://db/ledger?sslmode=require&PASSWORD=***'],
  ['a token and a key in the query string', `redis://h:1/0?token=${secret}&sslkey=${secret}`, 'redis://h:1/0?token=***&sslkey=***'],
  ['credentials and a query password', `postgres://u:${secret}@db/x?password=${secret}`, 'postgres://u:***@db/x?password=***'],
  ['a fragment', `redis://h:6379#${secret}`, 'redis://h:6379#***'],
  ['an IPv6 host', `redis://:${secret}@[::1]:6379`, 'redis://:***@[::1]:6379'],
  ['an unclosed IPv6 bracket', `postgres://:${secret}@[bad`, 'postgres://***'],
  ['credentials and no host', `redis://:${secret}`, 'redis://***'],
  ['a password where the port goes', `redis://h:${secret}`, 'redis://***'],
  ['a wrong scheme', `http://:${secret}@example.com/x`, 'http://:***@example.com/x'],
  ['an opaque URL with credentials', `sqlite:${secret}@x`, 'sqlite:***'],
  ['no scheme at all', `:${secret}@host:6379`, '***'],
  ['a bare secret', secret, '***'],
  ['an empty string', '', '***'],
  ['a URL without secrets', 'redis://127.0.0.1:6379/0', 'redis://127.0.0.1:6379/0'],
  ['a user name alone', 'postgres://postgres@127.0.0.1:5432/test', 'postgres://postgres@127.0.0.1:5432/test'],
  ['a SQLite path', 'sqlite:./data/jobledger.sqlite', 'sqlite:./data/jobledger.sqlite'],
  ['an in-memory SQLite', 'sqlite::memory:', 'sqlite::memory:'],
];

describe('maskUrl', () => {
  it.each(cases)('masks %s', (_, url, expected) => {
    expect(maskUrl(url)).toBe(expected);
    // Idempotent: a masked URL shown again stays as it was.
    expect(maskUrl(expected)).toBe(expected);
  });

  it('never lets any form of the secret through', () => {
    for (const [, url] of cases) {
      const shown = maskUrl(url);
      expect(shown).not.toContain(secret);
      expect(shown).not.toContain('s3c@r3t');
    }
  });

  it('masks every URL inside a text, keeping the punctuation around it', () => {
    const text = `tried redis://:${secret}@h:6379, then (postgres://u:${secret}@db/x). Also "http://:${secret}@e".`;
    expect(maskUrlsInText(text)).toBe('tried redis://:***@h:6379, then (postgres://u:***@db/x). Also "http://:***@e".');
  });

  it('lists the secrets a URL carries, as written and percent-decoded', () => {
    expect(urlSecrets(`redis://:p%40ss${secret}@h:1`).sort()).toEqual([`p%40ss${secret}`, `p@ss${secret}`].sort());
    expect(urlSecrets(`postgres://db/x?password=${secret}&sslmode=require`)).toEqual([secret]);
    expect(urlSecrets('postgres://postgres@127.0.0.1:5432/test')).toEqual([]);
    expect(urlSecrets(`postgres://:${secret}@[bad`)).toEqual([secret]);
  });
});

describe('configuration errors show URLs masked', () => {
  function configError(env: Record<string, string>): InvalidConfigError {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidConfigError);
      return error as InvalidConfigError;
    }
    throw new Error('expected loadConfig to throw');
  }

  it.each([
    ['REDIS_URL', 'a wrong scheme', `http://:${secret}@127.0.0.1:6379`, 'expected redis://'],
    ['REDIS_URL', 'an unparseable URL', `redis://:${secret}@[bad`, 'malformed URL'],
    ['REDIS_URL', 'an @ in the password and a wrong scheme', `tcp://u:s3c@r3t@h:1`, 'expected redis://'],
    ['DATABASE_URL', 'a wrong scheme', `mysql://root:${secret}@db/app`, 'expected sqlite:<path> or postgres://'],
    ['DATABASE_URL', 'an empty user and an unclosed bracket', `postgres://:${secret}@[bad`, 'malformed PostgreSQL URL'],
    ['DATABASE_URL', 'a query-string password and a wrong scheme', `mssql://db/app?password=${secret}`, 'expected sqlite:<path>'],
  ])('%s with %s', (variable, _, url, says) => {
    const error = configError({ [variable]: url });
    expect(error.code).toBe('JOBLEDGER_INVALID_CONFIG');
    expect(error.message).toContain(`${variable}:`);
    expect(error.message).toContain(says);
    expect(error.message).not.toContain(secret);
    expect(error.message).not.toContain('s3c@r3t');
  });
});

describe('sqlite: DATABASE_URL paths', () => {
  it('expands ~/ to the home directory', () => {
    expect(parseDatabaseUrl('sqlite:~/ledgers/a.sqlite').sqlitePath).toBe(join(homedir(), 'ledgers/a.sqlite'));
  });

  it('keeps plain relative and absolute paths, and sqlite:///absolute', () => {
    expect(parseDatabaseUrl('sqlite:./data/a.sqlite').sqlitePath).toBe('./data/a.sqlite');
    expect(parseDatabaseUrl('sqlite:/var/lib/a.sqlite').sqlitePath).toBe('/var/lib/a.sqlite');
    expect(parseDatabaseUrl('sqlite:///var/lib/a.sqlite').sqlitePath).toBe('/var/lib/a.sqlite');
    expect(parseDatabaseUrl('sqlite::memory:').sqlitePath).toBe(':memory:');
  });

  it.each([
    ['a file: URI with parameters', 'sqlite:file:/x.sqlite?mode=ro', 'SQLite "file:" URIs are not supported'],
    ['a file: URI without parameters', 'sqlite:file:./x.sqlite', 'SQLite "file:" URIs are not supported'],
    ['query parameters on a path', 'sqlite:./x.sqlite?mode=ro', 'query parameters are not supported'],
    ["another user's home", 'sqlite:~bob/x.sqlite', '"~user/" paths are not supported'],
    ['the home directory itself', 'sqlite:~', 'the home directory itself'],
    ['a host', 'sqlite://db.example.com/x.sqlite', 'names a host'],
  ])('refuses %s with what to write instead', (_, url, says) => {
    let error: unknown;
    try {
      parseDatabaseUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as Error).message).toContain(says);
    expect((error as Error).message).toContain('expected sqlite:<path>');
  });
});
