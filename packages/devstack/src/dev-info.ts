/**
 * Where `pnpm dev`'s stack is, written to `.walcast/dev.json` (git-ignored, readable by its owner
 * only) for the examples, and printed for people. The file is removed when the stack stops.
 */
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DevInfo {
  /** The Supabase URL for supabase-js, e.g. `http://127.0.0.1:4000`. */
  httpUrl: string;
  websocketUrl: string;
  /** The inspector page, with a channel on `public.users` filled in. */
  inspectorUrl: string;
  /** `null` when DATABASE_URL/DB_* point at a database of your own. */
  databaseUrl: string | null;
  /** Which Redis the services use: a URL, or a Redis Cluster and its REDIS_CLUSTER_NODES. */
  redis: string;
  secureChannels: boolean;
  /** With secure channels: the JWT_SECRET the gateway verifies tokens with, and keys signed with it. */
  jwtSecret?: string;
  anonKey?: string;
  serviceRoleKey?: string;
}

/** `.walcast/dev.json` under `root`. */
export const devInfoPath = (root: string): string => join(root, '.walcast', 'dev.json');

export function writeDevInfo(root: string, info: DevInfo): () => void {
  const file = devInfoPath(root);
  mkdirSync(join(root, '.walcast'), { recursive: true });
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an older file keeps its mode on rewrite
  return () => rmSync(file, { force: true });
}

/** The lines `pnpm dev` prints once everything is ready. */
export function describeDevStack(info: DevInfo, psqlTarget: string): string[] {
  const lines = [
    '',
    'walcast is running.',
    `  websocket:  ${info.websocketUrl}   (supabase-js: ${info.httpUrl} as the Supabase URL)`,
    `  inspector:  ${info.inspectorUrl}`,
    `  database:   ${psqlTarget}`,
    `  redis:      ${info.redis}`,
  ];
  if (info.secureChannels) {
    lines.push(
      `  secure channels: tokens are checked against JWT_SECRET=${info.jwtSecret} (and rows against RLS)`,
      `  anon key:          ${info.anonKey}`,
      `  service_role key:  ${info.serviceRoleKey}`,
      '  paste a key into the inspector’s Token field; the examples read them from .walcast/dev.json',
    );
  } else {
    lines.push(
      '  channels are open (no token needed); `pnpm dev --secure` checks tokens and row-level security',
    );
  }
  lines.push(
    `  see a change arrive:  open the inspector, or  pnpm watch realtime:public:users   then, in another terminal:`,
    `    psql '${psqlTarget}' -c "insert into users (name) values ('hello')"`,
    '  Ctrl-C stops everything.',
  );
  return lines;
}
