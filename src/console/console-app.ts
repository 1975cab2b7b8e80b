/**
 * The operator console as a Fastify plugin (`jobLedgerConsole`, to register under a prefix in an
 * existing server) and as a standalone app (`createConsole`). Everything it does is scoped to its
 * own encapsulated context: its hooks, error handler and not-found handler touch no other route of a
 * host server.
 *
 * Every route is authenticated unless its config says `public` (the page, its assets, the login and
 * the OpenAPI description); routes whose config says `role: 'operator'` are actions.
 */
import { packageVersion } from '../package-version.js';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ConsoleToken } from '../console-tokens.js';
import { InvalidOptionError } from '../errors.js';
import type { JobLedger } from '../jobledger.js';
import {
  ConsoleAccess,
  checkCsrf,
  cookie,
  csrfCookie,
  ensureOpenCsrfCookie,
  principalOf,
  requireRole,
  sessionCookie,
  sessionTtlMs,
  setPrincipal,
} from './access.js';
import { registerActivityRoutes } from './activity-routes.js';
import { ConsoleAssets } from './assets.js';
import { checkBodyTypes, type BodySchemaNode } from './body-types.js';
import { ConsoleHttpError, sendError } from './http-errors.js';
import { checkKnownKeys, registerJobRoutes } from './job-routes.js';
import { registerMaintenanceRoutes } from './maintenance-routes.js';
import { OpenApiCollector } from './openapi.js';
import { registerPipelineActionRoutes } from './pipeline-action-routes.js';
import { registerReadRoutes } from './read-routes.js';
import { registerRecordRoutes } from './record-routes.js';
import { setSecurityHeaders } from './security-headers.js';
import { registerStateRoutes } from './state-routes.js';

export interface ConsoleOptions {
  /** The open JobLedger whose ledger the console shows and whose operator actions it runs. */
  jl: JobLedger;
  /** Who may use it. Default `jl.config.consoleTokens` (`JOBLEDGER_CONSOLE_TOKENS`); none: open to this host only. */
  tokens?: readonly ConsoleToken[];
}

interface RouteConfig {
  public?: boolean;
  role?: 'operator';
}

/** The UI's pages: each serves the same HTML, whose script renders the page the path names. */
const pagePaths = ['/', '/login', '/jobs', '/jobs/:id', '/runs', '/runs/:id', '/pipelines', '/pipelines/:id', '/state', '/state/:namespace', '/maintenance', '/audit', '/replays'];

/** Registers the console in `app` (at the prefix it is registered under). */
export function jobLedgerConsole(app: FastifyInstance, options: ConsoleOptions, done: (error?: Error) => void): void {
  const { jl } = options;
  const access = new ConsoleAccess(options.tokens ?? jl.config.consoleTokens);
  const assets = new ConsoleAssets();
  const base = app.prefix;
  const cookiePath = base || '/';
  const openapi = new OpenApiCollector();
  openapi.watch(app, `${base}/api/`);

  app.addHook('onRequest', async (request, reply) => {
    setSecurityHeaders(request, reply, request.url.startsWith(`${base}/api/`));
    const config = request.routeOptions.config as RouteConfig;
    if (config.public) return;
    const principal = access.principal(request);
    if (!principal) throw new ConsoleHttpError(401, 'JOBLEDGER_UNAUTHORIZED', 'send "Authorization: Bearer <secret>" or log in');
    setPrincipal(request, principal);
    if (config.role === 'operator') requireRole(principal, 'operator');
    if (request.method !== 'GET' && request.method !== 'HEAD') checkCsrf(principal, request);
  });

  // Unknown parameters, and body fields of the wrong JSON type, are refused by name, whatever the
  // host server's Ajv does with them (it may remove the first and coerce the second silently).
  app.addHook('preValidation', (request, _reply, next) => {
    const schema = request.routeOptions.schema as { querystring?: { properties?: object }; body?: BodySchemaNode } | undefined;
    try {
      if (schema?.querystring?.properties) checkKnownKeys('query', request.query as object, Object.keys(schema.querystring.properties), true);
      if (schema?.body?.properties && typeof request.body === 'object' && request.body !== null && !Array.isArray(request.body)) {
        checkKnownKeys('body', request.body, Object.keys(schema.body.properties), true);
      }
      if (schema?.body) checkBodyTypes(schema.body, request.body);
    } catch (error) {
      return next(error as Error);
    }
    next();
  });

  app.setErrorHandler((error, request, reply) => sendError(error, request, reply));
  app.setNotFoundHandler((request, reply) => {
    setSecurityHeaders(request, reply, true);
    return sendError(new ConsoleHttpError(404, 'JOBLEDGER_NOT_FOUND', `no console route ${request.method} ${request.url.split('?')[0]}`), request, reply);
  });

  const publicRoute = { config: { public: true } satisfies RouteConfig };
  const page = assets.pageFor(base);
  for (const path of pagePaths) {
    app.get(path, publicRoute, (_request, reply) => reply.type('text/html; charset=utf-8').send(page));
  }
  app.get<{ Params: { '*': string } }>('/assets/*', publicRoute, (request, reply) => {
    const asset = assets.get(request.params['*']);
    if (!asset) throw new ConsoleHttpError(404, 'JOBLEDGER_NOT_FOUND', `no console asset ${JSON.stringify(request.params['*'])}`);
    return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body);
  });
  app.get('/api/openapi.json', publicRoute, () => openapi.build(base, packageVersion()));

  registerSessionRoutes(app, access, cookiePath);
  registerReadRoutes(app, jl);
  registerJobRoutes(app, jl);
  registerPipelineActionRoutes(app, jl);
  registerStateRoutes(app, jl);
  registerMaintenanceRoutes(app, jl);
  registerActivityRoutes(app, jl);
  registerRecordRoutes(app, jl);
  done();
}

function registerSessionRoutes(app: FastifyInstance, access: ConsoleAccess, cookiePath: string): void {
  app.get('/api/session', { schema: { summary: 'Who this request is: token name, role, and the CSRF token of a browser session', tags: ['session'] } }, async (request, reply) => {
    const principal = ensureOpenCsrfCookie(principalOf(request), reply, cookiePath, request.protocol === 'https');
    return { name: principal.name, role: principal.role, via: principal.via, csrf: principal.csrf, open: access.open };
  });

  app.post<{ Body: { secret: string } }>(
    '/api/session',
    {
      config: { public: true },
      schema: {
        summary: 'Log in: exchanges a token\'s secret for an HttpOnly session cookie',
        tags: ['session'],
        body: { type: 'object', required: ['secret'], properties: { secret: { type: 'string', minLength: 1, maxLength: 1000, description: 'a console token\'s secret' } }, description: 'a JSON object { "secret": "..." }' },
      },
    },
    async (request, reply) => {
      if (access.open) throw new InvalidOptionError('secret', 'nothing: this console has no tokens (JOBLEDGER_CONSOLE_TOKENS) and needs no login', 'a secret');
      const opened = access.login(request.body.secret);
      if (!opened) throw new ConsoleHttpError(401, 'JOBLEDGER_UNAUTHORIZED', 'that secret names no console token');
      const secure = request.protocol === 'https';
      const maxAgeS = Math.floor(sessionTtlMs / 1000);
      void reply.header('set-cookie', [
        cookie(sessionCookie, opened.id, { path: cookiePath, httpOnly: true, secure, maxAgeS }),
        cookie(csrfCookie, opened.session.csrf, { path: cookiePath, httpOnly: false, secure, maxAgeS }),
      ]);
      return { name: opened.session.token.name, role: opened.session.token.role, via: 'session', csrf: opened.session.csrf, open: false };
    },
  );

  app.delete('/api/session', { schema: { summary: 'Log out', tags: ['session'] } }, async (request, reply) => {
    access.logout(request);
    const secure = request.protocol === 'https';
    void reply.header('set-cookie', [
      cookie(sessionCookie, '', { path: cookiePath, httpOnly: true, secure, maxAgeS: 0 }),
      cookie(csrfCookie, '', { path: cookiePath, httpOnly: false, secure, maxAgeS: 0 }),
    ]);
    return { loggedOut: true };
  });
}

/**
 * A Fastify app serving the console at `prefix` (default: the root). Call `listen` yourself, or use
 * `startConsole` (listen.ts), which also enforces the loopback rule of a console without tokens.
 */
export function createConsole(options: ConsoleOptions & { prefix?: string }): FastifyInstance {
  // The JobLedger's pino logger, seen as Fastify's logger interface (pino's own type is wider).
  const loggerInstance: FastifyBaseLogger = options.jl.logger;
  const app = Fastify({ loggerInstance, logController: new LogController({ disableRequestLogging: true }) });
  void app.register(jobLedgerConsole, { jl: options.jl, ...(options.tokens ? { tokens: options.tokens } : {}), prefix: options.prefix ?? '' });
  return app;
}
