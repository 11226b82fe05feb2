import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** An OS account that child processes are started as. */
export interface ServerUser {
  name: string;
  uid: number;
  gid: number;
}

/** Parses `/etc/passwd` content and returns the entry for `name`, or `null`. Pure. */
export function parsePasswdEntry(passwd: string, name: string): ServerUser | null {
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  return null;
}

let cached: ServerUser | null | undefined;

/**
 * The account PostgreSQL runs as. `null` when the current process is not root, meaning "run as
 * myself". As root (PostgreSQL refuses to run as root) it is the `postgres` account, created with
 * `useradd --system --no-create-home postgres` when missing, or `nobody` when that fails. Cached
 * for the process.
 */
export function postgresServerUser(): ServerUser | null {
  if (cached !== undefined) return cached;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return (cached = null);
  cached = lookupUser('postgres') ?? createPostgresUser() ?? lookupUser('nobody');
  if (cached === null) throw new Error('running as root, but neither a postgres nor a nobody account exists');
  return cached;
}

function lookupUser(name: string): ServerUser | null {
  try {
    return parsePasswdEntry(readFileSync('/etc/passwd', 'utf8'), name);
  } catch {
    return null; // no /etc/passwd (unusual container): the caller falls back
  }
}

function createPostgresUser(): ServerUser | null {
  try {
    execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], {
      stdio: 'ignore',
    });
  } catch {
    // no useradd (Alpine, busybox), no permission, or a concurrent process created it first;
    // the lookup below tells which
  }
  return lookupUser('postgres');
}
