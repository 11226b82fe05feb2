import { createHash, randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { LocalServiceError } from './local-service-error';
import { postgresVersion } from './find-postgres-bin-dir';
import { runCommand } from './run-command';
import { scratchDir } from './scratch-dir';
import type { ServerUser } from './server-user';

const INITDB_ARGS = ['-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'];
const MAX_SOCKET_PATH = 100; // sockaddr_un.sun_path is 108 bytes on Linux, 104 on macOS

/** A data directory ready for a postmaster, and what {@link LocalPostgres.destroy} removes. */
export interface PreparedDataDir {
  dataDir: string;
  socketDir: string;
  /** Removed by destroy(): the data directory (even when the caller chose it) and temp dirs. */
  destroyPaths: string[];
  /** Removed also when the process exits without destroy(): only directories this module created. */
  tempPaths: string[];
}

const templates = new Map<string, Promise<string>>();

/**
 * Returns an initdb'd template cluster for `binDir`, creating it on first use. The template lives
 * in `<scratch>/walcast-pg-template-<major>-<uid>-<hash>` and is shared by every process of the same
 * user: it is built in a private directory and published with an atomic rename, so concurrent
 * test workers never see a half-written template. The hash covers the binary directory, the
 * exact version and the initdb flags, so an upgrade gets a fresh template.
 */
export function ensureTemplate(binDir: string, user: ServerUser | null): Promise<string> {
  const version = postgresVersion(binDir);
  const uid = user?.uid ?? process.getuid?.() ?? 0;
  const hash = createHash('sha1')
    .update([binDir, version.full, ...INITDB_ARGS].join('\0'))
    .digest('hex')
    .slice(0, 8);
  const template = join(scratchDir(user), `walcast-pg-template-${version.major}-${uid}-${hash}`);
  let pending = templates.get(template);
  if (pending === undefined) {
    pending = createTemplate(binDir, user, template);
    pending.catch(() => templates.delete(template));
    templates.set(template, pending);
  }
  return pending;
}

async function createTemplate(binDir: string, user: ServerUser | null, template: string): Promise<string> {
  if (isCluster(template)) return template;
  if (existsSync(template)) rmSync(template, { recursive: true, force: true }); // damaged, e.g. by a tmp cleaner
  const building = `${template}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
  makeOwnedDir(building, user);
  try {
    const result = await runCommand(join(binDir, 'initdb'), ['-D', building, ...INITDB_ARGS], { user });
    if (result.code !== 0) {
      throw new LocalServiceError(
        'StartFailed',
        `initdb failed (exit ${result.code}):\n${result.output.trim()}`,
      );
    }
    try {
      renameSync(building, template);
    } catch (err) {
      if (!isCluster(template)) throw err; // another process published first; use theirs
    }
  } finally {
    rmSync(building, { recursive: true, force: true });
  }
  return template;
}

/**
 * Prepares the data directory of a new instance. Without `dataDir`, copies the template into a fresh
 * `<scratch>/walcast-pg-XXXXXX/data` (see {@link scratchDir}). With `dataDir`, reuses an existing cluster there, or copies the
 * template into it when it is missing or empty.
 */
export async function prepareDataDir(opts: {
  binDir: string;
  user: ServerUser | null;
  dataDir?: string;
}): Promise<PreparedDataDir> {
  const { user } = opts;
  if (opts.dataDir !== undefined && isCluster(opts.dataDir)) {
    return withSocketDir(opts.dataDir, user, false);
  }
  const template = await ensureTemplate(opts.binDir, user);
  let dataDir: string;
  let root: string;
  const isTemporary = opts.dataDir === undefined;
  if (opts.dataDir === undefined) {
    root = mkdtempSync(join(scratchDir(user), 'walcast-pg-'));
    if (user) chownSync(root, user.uid, user.gid);
    dataDir = join(root, 'data');
  } else {
    mkdirSync(dirname(opts.dataDir), { recursive: true });
    if (existsSync(opts.dataDir) && readdirSync(opts.dataDir).length > 0) {
      throw new LocalServiceError(
        'StartFailed',
        `${opts.dataDir} is neither empty nor a PostgreSQL data directory`,
      );
    }
    rmSync(opts.dataDir, { recursive: true, force: true });
    dataDir = root = opts.dataDir;
  }
  await copyDir(template, dataDir);
  return withSocketDir(dataDir, user, isTemporary, root);
}

/** Uses the data directory for the unix socket unless its path is too long for `sun_path`. */
function withSocketDir(
  dataDir: string,
  user: ServerUser | null,
  isTemporary: boolean,
  root = dataDir,
): PreparedDataDir {
  const tempPaths = isTemporary ? [root] : [];
  if (join(dataDir, '.s.PGSQL.65535.lock').length <= MAX_SOCKET_PATH) {
    return { dataDir, socketDir: dataDir, destroyPaths: [root], tempPaths };
  }
  const socketDir = mkdtempSync(join(scratchDir(user), 'walcast-pgsock-'));
  if (user) chownSync(socketDir, user.uid, user.gid);
  return { dataDir, socketDir, destroyPaths: [root, socketDir], tempPaths: [...tempPaths, socketDir] };
}

async function copyDir(from: string, to: string): Promise<void> {
  const args = process.platform === 'linux' ? ['-a', '--reflink=auto', from, to] : ['-a', from, to];
  const result = await runCommand('cp', args);
  if (result.code !== 0) {
    throw new LocalServiceError('StartFailed', `copying ${from} to ${to} failed:\n${result.output.trim()}`);
  }
}

function makeOwnedDir(dir: string, user: ServerUser | null): void {
  mkdirSync(dir, { mode: 0o700 });
  if (user) chownSync(dir, user.uid, user.gid);
}

function isCluster(dir: string): boolean {
  return existsSync(join(dir, 'PG_VERSION')) && existsSync(join(dir, 'global', 'pg_control'));
}
