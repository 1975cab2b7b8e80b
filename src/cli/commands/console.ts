/** `jobledger console`: the operator console's HTTP API and web UI (docs/console.md). */
import type { Command } from 'commander';
import { cliConfig, openJobLedger, type GlobalOptions } from '../context.js';
import { parseInteger } from '../parse.js';

export function registerConsoleCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('console')
    .description('serve the operator console (web UI and JSON API) on the ledger; tokens: JOBLEDGER_CONSOLE_TOKENS')
    .option('--host <address>', 'address to bind; other than loopback only with JOBLEDGER_CONSOLE_TOKENS', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free one)', parseInteger('--port', 0, 65535), 4820)
    .action(async (opts: { host: string; port: number }) => {
      // Loaded here, not at the top: only this command needs Fastify.
      const { checkBindAllowed, startConsole } = await import('../../console/index.js');
      // Refused before anything is opened: a console without tokens binds to loopback only.
      checkBindAllowed(opts.host, (await cliConfig()).consoleTokens);
      const jl = await openJobLedger(global(), { needsRedis: true, envDefaults: { LOG_LEVEL: 'info' } });
      let running: Awaited<ReturnType<typeof startConsole>>;
      try {
        running = await startConsole({ jl, host: opts.host, port: opts.port });
      } catch (error) {
        await jl.close();
        throw error;
      }
      const access = running.open
        ? 'no JOBLEDGER_CONSOLE_TOKENS: open to anyone on this host, bound to loopback only'
        : `${jl.config.consoleTokens.length} token(s) from JOBLEDGER_CONSOLE_TOKENS`;
      process.stdout.write(`jobledger console on ${running.url}/ (${access})\n`);
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        void running.close().finally(() => jl.close());
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
