/**
 * Who is asking, and may they: the console's tokens (`JOBLEDGER_CONSOLE_TOKENS`, console-tokens.ts),
 * bearer requests, cookie sessions opened by the login form, and CSRF checks.
 *
 * - `Authorization: Bearer <secret>` names a token directly (scripts, tests); such requests carry no
 *   ambient credential a browser would add on its own, so they need no CSRF token.
 * - The login form posts a secret once and gets an HttpOnly, SameSite=Strict session cookie. A
 *   state-changing request on that cookie must also carry the session's CSRF token in the
 *   `x-jobledger-csrf` header, which a page of another site can neither read nor send.
 * - Without tokens the console is open, and only to this host: a request from another address, or
 *   naming another host in `Host` (DNS rebinding), is refused, and state-changing requests still
 *   carry a CSRF token (double submit: the `jl_csrf` cookie repeated in the header).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleRole, ConsoleToken } from '../console-tokens.js';
import { defaultActor } from '../jobs/operator.js';
import { ConsoleHttpError } from './http-errors.js';

export interface Principal {
  /** Recorded as the actor of the actions taken. */
  name: string;
  role: ConsoleRole;
  via: 'bearer' | 'session' | 'open';
  /** The CSRF token state-changing requests must repeat; none for bearer requests. */
  csrf: string | null;
}

export const sessionCookie = 'jl_session';
export const csrfCookie = 'jl_csrf';
export const csrfHeader = 'x-jobledger-csrf';

/** How long a login lasts. */
export const sessionTtlMs = 12 * 3_600_000;
/** Sessions kept at once; the oldest is dropped past it. */
const maxSessions = 10_000;

interface Session {
  token: ConsoleToken;
  csrf: string;
  expiresAt: number;
}

export class ConsoleAccess {
  private readonly sessions = new Map<string, Session>();
  private readonly digests: { token: ConsoleToken; digest: Buffer }[];

  constructor(readonly tokens: readonly ConsoleToken[]) {
    this.digests = tokens.map((token) => ({ token, digest: digest(token.secret) }));
  }

  /** No tokens: anyone on this host may read and act. */
  get open(): boolean {
    return this.tokens.length === 0;
  }

  /** The token whose secret this is; every token is compared, in constant time. */
  tokenFor(secret: string): ConsoleToken | undefined {
    const given = digest(secret);
    let found: ConsoleToken | undefined;
    for (const { token, digest: d } of this.digests) if (timingSafeEqual(d, given)) found = token;
    return found;
  }

  /** Opens a session for `secret`; undefined when it names no token. */
  login(secret: string, now = Date.now()): { id: string; session: Session } | undefined {
    const token = this.tokenFor(secret);
    if (!token) return undefined;
    this.dropExpired(now);
    if (this.sessions.size >= maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const session = { token, csrf: randomBytes(24).toString('base64url'), expiresAt: now + sessionTtlMs };
    this.sessions.set(id, session);
    return { id, session };
  }

  logout(request: FastifyRequest): void {
    const id = cookiesOf(request)[sessionCookie];
    if (id !== undefined) this.sessions.delete(id);
  }

  /**
   * The principal of `request`, or undefined when it presents nothing (a wrong bearer secret or an
   * unknown session is a 401 at once: a client that sent a credential wants to know it failed).
   */
  principal(request: FastifyRequest, now = Date.now()): Principal | undefined {
    if (this.open) {
      if (!isLoopbackAddress(request.socket.remoteAddress) || !isLoopbackHost(request.headers.host)) {
        throw new ConsoleHttpError(403, 'JOBLEDGER_FORBIDDEN', 'the console has no tokens (JOBLEDGER_CONSOLE_TOKENS), so it answers only requests from this host to a loopback address');
      }
      return { name: defaultActor(), role: 'operator', via: 'open', csrf: cookiesOf(request)[csrfCookie] ?? null };
    }
    const authorization = request.headers.authorization;
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      const token = match ? this.tokenFor(match[1]!) : undefined;
      if (!token) throw new ConsoleHttpError(401, 'JOBLEDGER_UNAUTHORIZED', 'the Authorization header names no console token; expected "Bearer <secret>"');
      return { name: token.name, role: token.role, via: 'bearer', csrf: null };
    }
    const id = cookiesOf(request)[sessionCookie];
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (!session || session.expiresAt <= now) {
      this.sessions.delete(id);
      throw new ConsoleHttpError(401, 'JOBLEDGER_UNAUTHORIZED', 'the session has ended; log in again');
    }
    return { name: session.token.name, role: session.token.role, via: 'session', csrf: session.csrf };
  }

  private dropExpired(now: number): void {
    for (const [id, session] of this.sessions) if (session.expiresAt <= now) this.sessions.delete(id);
  }
}

/** Refuses a state-changing request of a browser session (or an open console) without its CSRF token. */
export function checkCsrf(principal: Principal, request: FastifyRequest): void {
  if (principal.via === 'bearer') return;
  const sent = request.headers[csrfHeader];
  if (typeof sent !== 'string' || principal.csrf === null || !sameText(sent, principal.csrf)) {
    throw new ConsoleHttpError(403, 'JOBLEDGER_CSRF', `a state-changing request from a browser session must carry its CSRF token in the ${csrfHeader} header`);
  }
}

export function requireRole(principal: Principal, role: ConsoleRole): void {
  if (role === 'operator' && principal.role !== 'operator') {
    throw new ConsoleHttpError(403, 'JOBLEDGER_FORBIDDEN', `the token ${JSON.stringify(principal.name)} is a viewer's; retry and cancel need an operator token`);
  }
}

/** `Set-Cookie` for the console's cookies: scoped to its path, SameSite=Strict, Secure over HTTPS. */
export function cookie(name: string, value: string, options: { path: string; httpOnly: boolean; secure: boolean; maxAgeS?: number }): string {
  return [
    `${name}=${value}`,
    `Path=${options.path}`,
    'SameSite=Strict',
    ...(options.httpOnly ? ['HttpOnly'] : []),
    ...(options.secure ? ['Secure'] : []),
    ...(options.maxAgeS !== undefined ? [`Max-Age=${options.maxAgeS}`] : []),
  ].join('; ');
}

export function newCsrfToken(): string {
  return randomBytes(24).toString('base64url');
}

export function cookiesOf(request: FastifyRequest): Record<string, string> {
  const found: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at <= 0) continue;
    const name = part.slice(0, at).trim();
    if (!(name in found)) found[name] = part.slice(at + 1).trim();
  }
  return found;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/** `Host` names this host: localhost, 127.x.y.z or [::1], with any port. */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** Sets the double-submit cookie of an open console when the browser has none yet. */
export function ensureOpenCsrfCookie(principal: Principal, reply: FastifyReply, path: string, secure: boolean): Principal {
  if (principal.via !== 'open' || principal.csrf !== null) return principal;
  const csrf = newCsrfToken();
  void reply.header('set-cookie', cookie(csrfCookie, csrf, { path, httpOnly: false, secure }));
  return { ...principal, csrf };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function sameText(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

const principals = new WeakMap<FastifyRequest, Principal>();

/** Records who `request` is (the console's authentication hook). */
export function setPrincipal(request: FastifyRequest, principal: Principal): void {
  principals.set(request, principal);
}

/** Who `request` is; only routes behind the authentication hook ask. */
export function principalOf(request: FastifyRequest): Principal {
  const principal = principals.get(request);
  if (!principal) throw new ConsoleHttpError(401, 'JOBLEDGER_UNAUTHORIZED', 'this request presented no console token');
  return principal;
}
