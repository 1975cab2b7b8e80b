/**
 * The OpenAPI 3.1 description of the console's API, generated from the route schemas: an `onRoute`
 * hook collects every API route as it is registered, and the document is built from them once, on
 * the first request for it. Query and path properties become parameters, a body schema the request
 * body; every route may answer with the `{ code, message }` error.
 */
import type { FastifyInstance, RouteOptions } from 'fastify';

interface CollectedRoute {
  method: string;
  path: string;
  schema: Record<string, unknown>;
  operator: boolean;
}

// The route schema's documentation fields, as @fastify/swagger declares them.
declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    tags?: readonly string[];
  }
}

type Schema = { properties?: Record<string, Record<string, unknown>>; required?: string[]; description?: string } & Record<string, unknown>;

const errorSchema = {
  type: 'object',
  required: ['code', 'message'],
  properties: { code: { type: 'string', example: 'JOBLEDGER_INVALID_OPTION' }, message: { type: 'string' } },
};

export class OpenApiCollector {
  private readonly routes: CollectedRoute[] = [];
  private document: unknown;

  /** Registers the hook; routes registered after it, under `apiPrefix`, are described. */
  watch(app: FastifyInstance, apiPrefix: string): void {
    app.addHook('onRoute', (route: RouteOptions) => {
      if (!route.url.startsWith(apiPrefix) || !route.schema) return;
      for (const method of [route.method].flat()) {
        if (method === 'HEAD') continue;
        const config: { role?: string } | undefined = route.config;
        const operator = config?.role === 'operator';
        this.routes.push({ method: method.toLowerCase(), path: route.url, schema: route.schema as Record<string, unknown>, operator });
      }
    });
  }

  /** The document; `base` is the console's prefix (its server URL). */
  build(base: string, version: string): unknown {
    this.document ??= {
      openapi: '3.1.0',
      info: { title: 'jobledger console API', version, description: 'The ledger\'s jobs, attempts, events, runs and pipelines, and the operator actions. Authenticate with "Authorization: Bearer <secret>" (JOBLEDGER_CONSOLE_TOKENS).' },
      servers: [{ url: base || '/' }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
        schemas: { Error: errorSchema },
      },
      security: [{ bearer: [] }],
      paths: this.paths(base),
    };
    return this.document;
  }

  private paths(base: string): Record<string, Record<string, unknown>> {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of this.routes) {
      const path = route.path.slice(base.length).replace(/:([A-Za-z_]+)/g, '{$1}');
      const { summary, tags, querystring, params, body } = route.schema as { summary?: string; tags?: string[]; querystring?: Schema; params?: Schema; body?: Schema };
      const parameters = [...parametersOf(params, 'path'), ...parametersOf(querystring, 'query')];
      const error = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
      (paths[path] ??= {})[route.method] = {
        ...(summary ? { summary } : {}),
        ...(tags ? { tags } : {}),
        ...(route.operator ? { description: 'Needs an operator token; the token\'s name is recorded as the actor.' } : {}),
        ...(parameters.length ? { parameters } : {}),
        ...(body ? { requestBody: { required: true, content: { 'application/json': { schema: body } } } } : {}),
        responses: {
          200: { description: 'OK', content: { 'application/json': { schema: { type: 'object' } } } },
          400: error('a parameter is invalid; the message names it'),
          401: error('no or an unknown token'),
          ...(route.operator ? { 403: error('a viewer\'s token, or a browser session without its CSRF token'), 409: error('the job\'s or pipeline\'s status does not allow the action') } : {}),
          ...(params ? { 404: error('no such id') } : {}),
        },
      };
    }
    return paths;
  }
}

function parametersOf(schema: Schema | undefined, where: 'path' | 'query'): unknown[] {
  return Object.entries(schema?.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: where, required: where === 'path' || (schema?.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest };
  });
}
