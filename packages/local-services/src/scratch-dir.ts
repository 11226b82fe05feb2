import { statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';

import type { ServerUser } from './server-user';

const TMPFS_MAGIC = 0x01021994;
const MIN_SHM_FREE_BYTES = 2 * 1024 ** 3;

let cached: string | undefined;

/**
 * The directory under which throwaway servers keep their data, chosen once per process:
 * 1. `WALCAST_SCRATCH_DIR` when set;
 * 2. `/dev/shm` when it is a tmpfs with at least 2 GiB free: copying a 40 MB, 1000-file cluster
 *    there takes ~40 ms, against 0.1-1 s on a busy ext4 disk, and the servers' own writes stay in
 *    RAM (durability is irrelevant for throwaway data);
 * 3. `os.tmpdir()`, or `/tmp` when running as root with a `TMPDIR` other users cannot traverse
 *    (the postgres account could not reach its data directory there).
 */
export function scratchDir(user: ServerUser | null): string {
  if (cached !== undefined) return cached;
  const fromEnv = process.env['WALCAST_SCRATCH_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return (cached = fromEnv);
  if (isRoomyTmpfs('/dev/shm')) return (cached = '/dev/shm');
  const dir = tmpdir();
  if (user === null) return (cached = dir);
  return (cached = (statSync(dir).mode & 0o001) !== 0 ? dir : '/tmp');
}

function isRoomyTmpfs(dir: string): boolean {
  try {
    const fs = statfsSync(dir);
    const isWorldWritable = (statSync(dir).mode & 0o1777) === 0o1777;
    return fs.type === TMPFS_MAGIC && fs.bavail * fs.bsize >= MIN_SHM_FREE_BYTES && isWorldWritable;
  } catch {
    return false; // no /dev/shm (macOS) or statfs unsupported
  }
}
