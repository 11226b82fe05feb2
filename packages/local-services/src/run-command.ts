import { spawn } from 'node:child_process';

import type { ServerUser } from './server-user';

/** Result of {@link runCommand}: exit code (`null` when killed by a signal) and merged output. */
export interface CommandResult {
  code: number | null;
  output: string;
}

/**
 * Runs a short command to completion and collects stdout and stderr together. Never rejects for a
 * non-zero exit; rejects only when the command cannot be spawned (e.g. ENOENT).
 */
export function runCommand(
  command: string,
  args: string[],
  opts: { user?: ServerUser | null; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? serverEnv(),
      ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * The environment for server processes: the current one without `PG*` variables (a stray `PGPORT`
 * or `PGDATA` must not redirect initdb or the postmaster) and with a neutral locale.
 */
export function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && value !== undefined) env[key] = value;
  }
  env['LC_ALL'] = 'C';
  return env;
}
