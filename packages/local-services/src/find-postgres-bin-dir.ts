import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync, realpathSync, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

const REQUIRED = ['initdb', 'postgres', 'pg_ctl'] as const;

/**
 * Finds a directory holding `initdb`, `postgres` and `pg_ctl`.
 *
 * Order: `PG_BIN_DIR` (when set it is the only candidate, so a wrong value fails loudly instead of
 * silently using another version), then `PATH` (a symlinked `initdb` resolves to its real directory,
 * which also holds `pg_isready` and `psql`), then the highest version in `/usr/lib/postgresql/<v>/bin`
 * (Debian/Ubuntu) and `/usr/pgsql-<v>/bin` (RHEL). Returns `null` when none qualifies.
 */
export function findPostgresBinDir(env: NodeJS.ProcessEnv = process.env): string | null {
  const fromEnv = env['PG_BIN_DIR'];
  if (fromEnv !== undefined && fromEnv !== '') return hasPostgresBinaries(fromEnv) ? fromEnv : null;
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (dir === '' || !hasPostgresBinaries(dir)) continue;
    const real = realDirOf(join(dir, 'initdb'));
    return real !== null && hasPostgresBinaries(real) ? real : dir;
  }
  for (const dir of versionedDirs('/usr/lib/postgresql', (v) => join('/usr/lib/postgresql', v, 'bin'))) {
    if (hasPostgresBinaries(dir)) return dir;
  }
  for (const dir of versionedDirs('/usr', (v) => join('/usr', v, 'bin'), /^pgsql-/)) {
    if (hasPostgresBinaries(dir)) return dir;
  }
  return null;
}

/** True when `dir` holds executable `initdb`, `postgres` and `pg_ctl`. */
export function hasPostgresBinaries(dir: string): boolean {
  return REQUIRED.every((name) => isExecutable(join(dir, name)));
}

/**
 * The server version of `<binDir>/postgres`, e.g. `{ major: 15, full: '15.14' }`.
 * Runs `postgres --version` once per directory and caches the answer for the process.
 */
export function postgresVersion(binDir: string): { major: number; full: string } {
  const cached = versionCache.get(binDir);
  if (cached !== undefined) return cached;
  const out = execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(out);
  if (match?.[1] === undefined) throw new Error(`cannot parse version from "${out.trim()}"`);
  const version = {
    major: Number(match[1]),
    full: match[2] === undefined ? match[1] : `${match[1]}.${match[2]}`,
  };
  versionCache.set(binDir, version);
  return version;
}

const versionCache = new Map<string, { major: number; full: string }>();

/** `true` when `file` exists and is executable by the current user. */
export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false; // missing or not executable: the caller tries the next candidate
  }
}

function realDirOf(file: string): string | null {
  try {
    return dirname(realpathSync(file));
  } catch {
    return null; // dangling symlink: fall back to the PATH directory itself
  }
}

/** Sub-directories of `root` whose name ends in a version number, highest version first. */
function versionedDirs(root: string, toBin: (name: string) => string, prefix = /^/): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return []; // the root does not exist on this distribution
  }
  return names
    .filter((n) => prefix.test(n) && /\d+(\.\d+)?$/.test(n.replace(prefix, '')))
    .sort((a, b) => Number.parseFloat(b.replace(prefix, '')) - Number.parseFloat(a.replace(prefix, '')))
    .map(toBin);
}
