/**
 * Headers on every console response: a content security policy that allows the console's own
 * scripts, styles and requests only (no inline script, no framing, no plugins), no MIME sniffing,
 * no referrer, and no caching of API answers (they hold job data).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function setSecurityHeaders(request: FastifyRequest, reply: FastifyReply, api: boolean): void {
  void reply.header('content-security-policy', contentSecurityPolicy);
  void reply.header('x-frame-options', 'DENY');
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('cross-origin-opener-policy', 'same-origin');
  if (api) void reply.header('cache-control', 'no-store');
}
