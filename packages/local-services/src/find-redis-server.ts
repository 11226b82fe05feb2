import { delimiter, join } from 'node:path';

import { isExecutable } from './find-postgres-bin-dir';

/**
 * Finds an executable `redis-server`: `REDIS_SERVER_BIN` when set (the only candidate then), else
 * `PATH`, else `/usr/bin` and `/usr/local/bin`. Returns `null` when none is executable.
 */
export function findRedisServer(env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env['REDIS_SERVER_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return isExecutable(fromEnv) ? fromEnv : null;
  const dirs = [...(env['PATH'] ?? '').split(delimiter), '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    if (dir !== '' && isExecutable(join(dir, 'redis-server'))) return join(dir, 'redis-server');
  }
  return null;
}
