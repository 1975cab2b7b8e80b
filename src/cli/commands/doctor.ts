/**
 * `jobledger doctor`: checks what an operator should know before trusting a deployment. Exits
 * non-zero when a check fails (a warning alone does not).
 */
import type { Command } from 'commander';
import { cliConfig } from '../context.js';
import { printJson, printTable } from '../output.js';

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check Redis, the schema, the outbox, running attempts and the workers that report their health')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      // The checks load Redis and the ledger: imported here, not when the CLI starts (cli/context.ts).
      const { runChecks } = await import('./doctor-checks.js');
      const checks = await runChecks(await cliConfig());
      if (opts.json) printJson({ ok: !checks.some((c) => c.verdict === 'fail'), checks });
      else printTable(checks.map((c) => ({ check: c.check, verdict: c.verdict.toUpperCase(), detail: c.detail })), { cut: false });
      if (checks.some((c) => c.verdict === 'fail')) process.exitCode = 1;
    });
}
