/** `jobledger doctor --json` in a process of its own (the built package: `npm test` builds first). */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../../../bin/jobledger.js', import.meta.url));

export interface DoctorCheck {
  check: string;
  verdict: string;
  detail: string;
}

/** Runs the doctor with `env` (JOBLEDGER_* variables of the test process left out) and parses its checks. */
export async function runDoctor(env: Record<string, string>): Promise<{ code: number | null; checks: DoctorCheck[] }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [cli, 'doctor', '--json'], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (exit) => resolve(exit)));
  return { code, checks: (JSON.parse(stdout) as { checks: DoctorCheck[] }).checks };
}
