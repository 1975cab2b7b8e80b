/**
 * The HTTP server a worker process exposes for Prometheus and an orchestrator's probes (node:http):
 *   GET /metrics                 the Prometheus text format (metrics.ts)
 *   GET /health/live, /healthz   200 while the process runs
 *   GET /health/ready, /readyz   200 when the database, Redis, the schema and the workers are fit,
 *                                503 otherwise, with a JSON body saying which check failed (readiness.ts)
 * The short names are the ones Kubernetes components use; each answers exactly as its long twin.
 * Anything else is 404; a method other than GET or HEAD is 405.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError } from '../errors.js';
import type { Logger } from '../logger.js';
import { expositionContentType } from './exposition.js';
import type { Readiness } from './readiness.js';

export interface ObservabilityServerOptions {
  /** Port to listen on; 0 picks a free one (see `port` once started). */
  port: number;
  /** Address to bind. Default `127.0.0.1`. */
  host?: string;
}

export interface ObservabilityHandlers {
  metrics: () => Promise<string>;
  readiness: () => Promise<Readiness>;
  logger: Logger;
}

export class ObservabilityServer {
  private constructor(
    private readonly server: Server,
    /** The port it listens on. */
    readonly port: number,
    readonly host: string,
  ) {}

  /** Listens on `port` and `host`; rejects if the port is taken or the address unknown. */
  static async start(options: ObservabilityServerOptions, handlers: ObservabilityHandlers): Promise<ObservabilityServer> {
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new InvalidOptionError('port', 'a whole number from 0 to 65535 for the metrics server', options.port);
    }
    const host = options.host ?? '127.0.0.1';
    const server = createServer((request, response) => {
      handle(request, response, handlers).catch((error: unknown) => {
        handlers.logger.error({ err: error, path: request.url }, 'metrics server: request failed');
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        response.end('internal error\n');
      });
    });
    // Idle keep-alive connections of a scraper must not hold the close up.
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (error) => handlers.logger.error({ err: error }, 'metrics server error'));
    const port = (server.address() as AddressInfo).port;
    handlers.logger.info({ host, port }, 'serving /metrics, /health/live (/healthz) and /health/ready (/readyz)');
    return new ObservabilityServer(server, port, host);
  }

  /** Stops listening and ends open connections. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

/** What each path serves. */
const routes = new Map<string, 'metrics' | 'live' | 'ready'>([
  ['/metrics', 'metrics'],
  ['/health/live', 'live'],
  ['/healthz', 'live'],
  ['/health/ready', 'ready'],
  ['/readyz', 'ready'],
]);

async function handle(request: IncomingMessage, response: ServerResponse, handlers: ObservabilityHandlers): Promise<void> {
  const route = routes.get((request.url ?? '/').split('?')[0]!);
  if (!route) return send(response, 404, 'text/plain; charset=utf-8', 'not found: try /metrics, /health/live (/healthz) or /health/ready (/readyz)\n', request);
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n', request);
  }
  if (route === 'metrics') return send(response, 200, expositionContentType, await handlers.metrics(), request);
  if (route === 'live') return send(response, 200, 'application/json', `${JSON.stringify({ status: 'live', pid: process.pid })}\n`, request);
  const readiness = await handlers.readiness();
  const body = { status: readiness.ready ? 'ready' : 'not ready', ...readiness.checks };
  send(response, readiness.ready ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`, request);
}

function send(response: ServerResponse, status: number, contentType: string, body: string, request: IncomingMessage): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  response.end(request.method === 'HEAD' ? undefined : body);
}
