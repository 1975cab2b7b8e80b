/**
 * `jobledger console` as a real child process (from dist/, as `npm test` builds it): it refuses a
 * non-loopback host without tokens and a malformed token list, serves on the port it says with the
 * tokens it read, and stops on SIGTERM.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliEnv } from './support/cli-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const secret = 'cli-operator-secret-0123';

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('jobledger console', () => {
  it('refuses to bind beyond loopback without tokens, and refuses a malformed token list without echoing it', async () => {
    // Both are refused before the ledger is opened: no migrated database needed.
    const env = await cliEnv('console');
    const open = await run(['console', '--host', '0.0.0.0', '--port', '0'], env);
    expect(open.code).toBe(1);
    expect(open.stderr).toMatch(/--host: expected a loopback address .* got "0\.0\.0\.0"/);

    const malformed = await run(['console', '--port', '0'], { ...env, JOBLEDGER_CONSOLE_TOKENS: 'ops:admin:an-admin-secret-12345' });
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/JOBLEDGER_CONSOLE_TOKENS entry 1 \(ops\): expected the role viewer or operator/);
    expect(malformed.stderr).not.toContain('an-admin-secret-12345');
  }, 180_000);

  it('serves with the tokens it read on the port it prints, and stops on SIGTERM', async () => {
    const env = await cliEnv('console', { JOBLEDGER_CONSOLE_TOKENS: `ops:operator:${secret}` });
    expect((await run(['migrate'], env)).code).toBe(0);
    const child = spawn(process.execPath, [bin, 'console', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let stdout = '';
      child.stdout.setEncoding('utf8');
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk: string) => {
          stdout += chunk;
          const match = /jobledger console on (http:\/\/127\.0\.0\.1:\d+)\/ \(1 token\(s\)/.exec(stdout);
          if (match) resolve(match[1]!);
        });
        child.once('exit', (code) => reject(new Error(`exited with ${code}: ${stdout}`)));
      });
      expect((await fetch(`${url}/api/overview`)).status).toBe(401);
      const answer = await fetch(`${url}/api/session`, { headers: { authorization: `Bearer ${secret}` } });
      expect(await answer.json()).toMatchObject({ name: 'ops', role: 'operator', via: 'bearer' });
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 180_000);
});
