/**
 * The operator console's access tokens, `JOBLEDGER_CONSOLE_TOKENS=name:role:secret[,...]` (read by
 * config.ts). A leaf module: it imports nothing of the project but the error catalogue.
 *
 * A secret is refused when shorter than 16 characters (a guessable token would guard actions on
 * every job); messages name an entry by its position and name, never by its secret.
 */
import { InvalidConfigError } from './errors.js';

export const consoleRoles = ['viewer', 'operator'] as const;
export type ConsoleRole = (typeof consoleRoles)[number];

export interface ConsoleToken {
  /** Recorded as the actor of every action taken with the token. */
  readonly name: string;
  /** `viewer` reads; `operator` also retries and cancels. */
  readonly role: ConsoleRole;
  readonly secret: string;
}

/** Shortest secret accepted. */
export const minSecretChars = 16;

const namePattern = /^[A-Za-z0-9_.@-]{1,64}$/;

export function parseConsoleTokens(raw: string, variable = 'JOBLEDGER_CONSOLE_TOKENS'): ConsoleToken[] {
  if (raw.trim() === '') return [];
  const tokens: ConsoleToken[] = [];
  raw.split(',').forEach((entry, index) => {
    const first = entry.indexOf(':');
    const second = first < 0 ? -1 : entry.indexOf(':', first + 1);
    const where = `${variable} entry ${index + 1}`;
    if (second < 0) throw new InvalidConfigError(`${where}: expected name:role:secret`);
    const name = entry.slice(0, first).trim();
    const role = entry.slice(first + 1, second).trim();
    const secret = entry.slice(second + 1);
    if (!namePattern.test(name)) {
      throw new InvalidConfigError(`${where}: expected a name of 1 to 64 letters, digits, "_", ".", "@" or "-", got ${JSON.stringify(name)}`);
    }
    if (!(consoleRoles as readonly string[]).includes(role)) {
      throw new InvalidConfigError(`${where} (${name}): expected the role viewer or operator, got ${JSON.stringify(role)}`);
    }
    if (secret.length < minSecretChars || /\s/.test(secret)) {
      throw new InvalidConfigError(`${where} (${name}): expected a secret of at least ${minSecretChars} characters without spaces`);
    }
    if (tokens.some((t) => t.name === name)) throw new InvalidConfigError(`${where}: the name ${JSON.stringify(name)} is used twice`);
    if (tokens.some((t) => t.secret === secret)) throw new InvalidConfigError(`${where} (${name}): its secret is also another token's`);
    tokens.push(Object.freeze({ name, role: role as ConsoleRole, secret }));
  });
  return tokens;
}
