/** The operator console: a JSON API and a web UI over the ledger (docs/console.md). */
export { createConsole, jobLedgerConsole, type ConsoleOptions } from './console-app.js';
export { checkBindAllowed, defaultConsolePort, isLoopbackBind, startConsole, type RunningConsole, type StartConsoleOptions } from './listen.js';
export { parseConsoleTokens, type ConsoleRole, type ConsoleToken } from '../console-tokens.js';
