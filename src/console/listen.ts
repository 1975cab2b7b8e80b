/**
 * Starting the console on a port of its own: the loopback rule lives here. A console without tokens
 * lets anyone who reaches it read every job and act on it, so it binds to a loopback address only
 * and refuses any other host; it says so when it starts.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { InvalidOptionError } from '../errors.js';
import { createConsole, type ConsoleOptions } from './console-app.js';

export interface StartConsoleOptions extends ConsoleOptions {
  /** Address to bind. Default `127.0.0.1`; any other than loopback needs tokens. */
  host?: string;
  /** Port; 0 picks a free one. Default 4820. */
  port?: number;
  /** Path prefix to serve it under. Default the root. */
  prefix?: string;
}

export interface RunningConsole {
  app: FastifyInstance;
  /** `http://host:port/prefix` */
  url: string;
  /** True when no token guards it (loopback only). */
  open: boolean;
  close(): Promise<void>;
}

export const defaultConsolePort = 4820;

export function isLoopbackBind(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Refuses a non-loopback `host` for a console without tokens. */
export function checkBindAllowed(host: string, tokens: readonly unknown[]): void {
  if (tokens.length === 0 && !isLoopbackBind(host)) {
    throw new InvalidOptionError('--host', 'a loopback address (127.0.0.1, ::1 or localhost): without JOBLEDGER_CONSOLE_TOKENS the console is open to anyone who reaches it', host);
  }
}

export async function startConsole(options: StartConsoleOptions): Promise<RunningConsole> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? defaultConsolePort;
  const tokens = options.tokens ?? options.jl.config.consoleTokens;
  const open = tokens.length === 0;
  checkBindAllowed(host, tokens);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidOptionError('--port', 'a whole number from 0 to 65535', port);
  const app = createConsole({ ...options, tokens });
  try {
    await app.listen({ host: host === '[::1]' ? '::1' : host, port });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return { app, url: `http://${shownHost}:${address.port}${options.prefix ?? ''}`, open, close: () => app.close() };
}
