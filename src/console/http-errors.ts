/**
 * How the console answers an error: `{ code, message }` with the status that fits the library's
 * coded error (bad input 400, not found 404, a transition the job's state refuses 409, a database or
 * Redis that does not answer 503). A thrown value that is not a coded error is logged and answered
 * as a bare 500, so driver messages and stacks never reach a client.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { InvalidOptionError, JobLedgerError, type ErrorCode } from '../errors.js';

/** The console's own codes, beside the library's: who may do what. */
export type ConsoleErrorCode = 'JOBLEDGER_UNAUTHORIZED' | 'JOBLEDGER_FORBIDDEN' | 'JOBLEDGER_CSRF' | 'JOBLEDGER_NOT_FOUND' | 'JOBLEDGER_INTERNAL';

/** An HTTP refusal raised by the console itself (authentication, roles, CSRF, unknown routes). */
export class ConsoleHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: ConsoleErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ConsoleHttpError';
  }
}

const statusOfCode: Partial<Record<ErrorCode, number>> = {
  JOBLEDGER_INVALID_OPTION: 400,
  JOBLEDGER_INVALID_ID: 400,
  JOBLEDGER_INVALID_PAYLOAD: 400,
  JOBLEDGER_UNSTORABLE_VALUE: 400,
  JOBLEDGER_UNKNOWN_JOB: 400,
  JOBLEDGER_NOT_FOUND: 404,
  JOBLEDGER_ILLEGAL_TRANSITION: 409,
  JOBLEDGER_VERSION_CONFLICT: 409,
  JOBLEDGER_CHECKSUM_MISMATCH: 409,
  JOBLEDGER_DATABASE_UNAVAILABLE: 503,
  JOBLEDGER_REDIS_UNAVAILABLE: 503,
  JOBLEDGER_COMMIT_OUTCOME_UNKNOWN: 503,
};

export interface ErrorBody {
  code: string;
  message: string;
}

/** The status and body for `error`; `undefined` for an error that is not the library's or the console's own. */
export function describeError(error: unknown): { status: number; body: ErrorBody } | undefined {
  if (error instanceof ConsoleHttpError) return { status: error.statusCode, body: { code: error.code, message: error.message } };
  if (error instanceof JobLedgerError) return { status: statusOfCode[error.code] ?? 500, body: { code: error.code, message: error.message } };
  return undefined;
}

/**
 * Fastify's schema validation failure as the library's `InvalidOptionError`: the parameter it is
 * about, what it expects (the property's `description` in the route schema) and what came.
 */
export function validationError(error: FastifyError, request: FastifyRequest): InvalidOptionError {
  const [issue] = error.validation ?? [];
  const context = error.validationContext ?? 'body';
  const params = (issue?.params ?? {}) as { missingProperty?: string; additionalProperty?: string };
  // `/filter/status` → ['filter', 'status']; a missing or unknown property is one level further down.
  const path = (issue?.instancePath ?? '').split('/').filter(Boolean);
  const extra = params.missingProperty ?? params.additionalProperty;
  if (extra !== undefined) path.push(extra);
  let schema = request.routeOptions.schema?.[context] as SchemaNode | undefined;
  let value: unknown = valueIn(request, context);
  let description = schema?.description;
  for (const key of path) {
    schema = schema?.properties && Object.hasOwn(schema.properties, key) ? schema.properties[key] : schema?.items;
    description = schema?.description ?? description;
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[key] : undefined;
  }
  if (path.length === 0) return new InvalidOptionError(context === 'querystring' ? 'query' : context, description ?? 'an object', value);
  return new InvalidOptionError(path.join('.'), description ?? issue?.message ?? 'a valid value', params.missingProperty !== undefined ? undefined : value);
}

interface SchemaNode {
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
}

function valueIn(request: FastifyRequest, context: 'body' | 'querystring' | 'params' | 'headers'): unknown {
  return context === 'querystring' ? request.query : request[context];
}

/** The console's error handler: coded errors with their status; anything else a logged 500. */
export function sendError(error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const fastifyError = error as FastifyError;
  if (fastifyError?.validation) return sendError(validationError(fastifyError, request), request, reply);
  const described = describeError(error);
  if (described) return reply.code(described.status).send(described.body);
  // Fastify's own client errors (a body that is not JSON, too large, an unsupported type).
  const status = typeof fastifyError?.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status >= 400 && status < 500) {
    return reply.code(status).send({ code: 'JOBLEDGER_INVALID_OPTION', message: `JOBLEDGER_INVALID_OPTION: request: ${fastifyError.message}` });
  }
  request.log.error({ err: error }, 'console: request failed');
  return reply.code(500).send({ code: 'JOBLEDGER_INTERNAL', message: 'JOBLEDGER_INTERNAL: the request failed on the server; its log has the details' });
}
