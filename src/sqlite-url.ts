/**
 * `sqlite:` database URLs to the file path better-sqlite3 opens. Whatever follows `sqlite:` becomes
 * a path on disk (its folder is created), so any form that is not plainly a path is refused with
 * what to write instead, rather than turned into a folder named `~` or `file:` in the working
 * directory:
 *
 *   sqlite:./data/ledger.sqlite   a path, relative to the working directory
 *   sqlite:/var/lib/ledger.sqlite an absolute path (also sqlite:///var/lib/ledger.sqlite)
 *   sqlite:~/ledger.sqlite        in the home directory of the user running the process
 *   sqlite::memory:               an in-memory database (tests)
 *
 * Refused: `file:` URIs (`sqlite:file:/x?mode=ro`: better-sqlite3 opens paths, and jobledger needs
 * a writable database, so `mode=ro` and the other URI parameters could not be honoured), query
 * strings (`?mode=ro` would end up in the file name), `~user/` (another user's home) and
 * `sqlite://host/...` (SQLite has no hosts).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { InvalidConfigError } from './errors.js';
import { maskUrl } from './mask-url.js';

export function sqlitePathFromUrl(url: string, home: () => string = homedir): string {
  const given = url.slice('sqlite:'.length);
  const refuse = (what: string): never => {
    throw new InvalidConfigError(`DATABASE_URL: ${what}; expected sqlite:<path>, e.g. sqlite:./data/jobledger.sqlite, sqlite:/var/lib/jobledger.sqlite or sqlite:~/jobledger.sqlite`);
  };
  const shown = JSON.stringify(shortly(maskUrl(url)));
  if (given === ':memory:') return given;
  if (given === '') throw new InvalidConfigError('DATABASE_URL: expected sqlite:<path>, got an empty path');
  if (/^file:/i.test(given)) return refuse(`SQLite "file:" URIs are not supported (${shown}); give the file's path instead, without URI parameters`);
  if (given.includes('?')) return refuse(`query parameters are not supported in a sqlite: URL (${shown}); they would become part of the file name`);
  if (given.startsWith('//') && !given.startsWith('///')) return refuse(`${shown} names a host, and SQLite has none; use sqlite:///absolute/path or sqlite:relative/path`);
  const path = given.startsWith('///') ? given.slice(2) : given;
  if (path === '~' || path === '~/') return refuse('got the home directory itself, not a file in it');
  if (path.startsWith('~/')) return join(home(), path.slice(2));
  if (path.startsWith('~')) return refuse(`"~user/" paths are not supported (${shown}); use sqlite:~/path for your own home directory, or an absolute path`);
  return path;
}

function shortly(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
