/**
 * The `jobledger` command. Human output is an aligned table, `--json` is for scripts; errors are one
 * line on stderr with a non-zero exit code.
 */
import { Command, CommanderError } from 'commander';
import { JobLedgerError } from '../errors.js';
import { registerDemoCommand } from './demo.js';
import { packageVersion } from '../package-version.js';
import { registerArchiveCommands } from './commands/archive.js';
import { registerAuditCommand } from './commands/audit.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerConsoleCommand } from './commands/console.js';
import { registerDoctorCommand } from './commands/doctor.js';
import { registerExportCommand } from './commands/export.js';
import { registerInspectCommands } from './commands/inspect.js';
import { registerMaintenanceCommands } from './commands/maintenance.js';
import { registerOperateCommands } from './commands/operate.js';
import { registerPipelineCommands } from './commands/pipelines.js';
import { registerReplayCommands } from './commands/replay.js';
import { registerSearchCommand } from './commands/search.js';
import { registerStateCommands } from './commands/state.js';
import { registerTypesCommand } from './commands/types.js';
import { redactText } from '../log-redaction.js';
import { urlSecrets } from '../mask-url.js';
import type { GlobalOptions } from './context.js';

export async function main(argv: readonly string[]): Promise<void> {
  // `jobledger jobs | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
  const program = new Command('jobledger')
    .description('background jobs on BullMQ with a durable ledger of every job, attempt and event')
    .version(packageVersion(), '-V, --version', 'print the version of jobledger')
    .option('--config <path>', 'configuration module exporting the job types (default: ./jobledger.config.{ts,mjs,js}); it is code, run only by commands that need job types')
    .option('--no-config', 'run no configuration module (commands that need job types use the built-in demo ones)')
    .showHelpAfterError()
    .exitOverride();
  const global = (): GlobalOptions => program.opts<GlobalOptions>();
  registerDemoCommand(program, global);
  registerOperateCommands(program, global);
  registerInspectCommands(program, global);
  registerExportCommand(program, global);
  registerReplayCommands(program, global);
  registerMaintenanceCommands(program, global);
  registerArchiveCommands(program, global);
  registerPipelineCommands(program, global);
  registerStateCommands(program, global);
  registerAuditCommand(program);
  registerSearchCommand(program);
  registerDoctorCommand(program);
  registerBackupCommands(program, global);
  registerTypesCommand(program, global);
  registerConsoleCommand(program, global);

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      process.exitCode = error.exitCode;
      return;
    }
    process.exitCode = 1;
    process.stderr.write(`jobledger: ${oneLine(error)}\n`);
  }
}

/** The error as one line, without URL credentials or the passwords of REDIS_URL and DATABASE_URL. */
function oneLine(error: unknown): string {
  const secrets = [...urlSecrets(process.env.REDIS_URL ?? ''), ...urlSecrets(process.env.DATABASE_URL ?? '')];
  if (error instanceof JobLedgerError) return redactText(error.message, secrets).split('\n')[0] ?? '';
  if (error instanceof Error) return `${error.name}: ${redactText(error.message, secrets).split('\n')[0] ?? ''}`;
  return redactText(String(error), secrets);
}
