/**
 * `pnpm dev` with WALCAST_DEV_REDIS_CLUSTER=3: the built devstack, run as a person runs it, starts
 * its PostgreSQL, a Redis Cluster of three masters, the ingester and a gateway, and says so; the
 * README's supabase-js quick start then receives a row inserted into `public.users`. (The devstack
 * writes `.walcast/dev.json` at the repository root while it runs, as `pnpm dev` does.)
 */
import { resolve } from 'node:path';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimePostgresChangesPayload } from '@supabase/realtime-js';
import { freePort, spawnService, sql, uniqueName, waitFor, type ServiceProcess } from '@walcast/test-utils';
import { Transport, disconnect } from './support/modern-client';

jest.setTimeout(120_000);

const DEVSTACK = resolve(__dirname, '../../packages/devstack/dist/main.js');

let devstack: ServiceProcess;
let port: number;
let supabase: SupabaseClient | null = null;

beforeAll(async () => {
  port = await freePort();
  devstack = await spawnService({
    name: 'pnpm dev',
    entry: DEVSTACK,
    env: { PORT: String(port), WALCAST_DEV_REDIS_CLUSTER: '3', LOG_LEVEL: 'warn' },
  });
  await waitFor(() => devstack.lines.some((l) => l.includes('walcast is running.')), {
    timeoutMs: 90_000,
    message: 'pnpm dev to say it is running',
  }).catch((err: unknown) => {
    throw new Error(`${String(err)}; printed:\n${devstack.tail()}`);
  });
}, 120_000);

afterAll(async () => {
  if (supabase) await disconnect(supabase.realtime);
  await devstack?.stop();
}, 30_000);

/** The value printed after `label` (e.g. `database:`), up to the next blank. */
function printed(label: string): string {
  const line = devstack.lines.find((l) => l.trim().startsWith(label));
  if (!line) throw new Error(`pnpm dev printed no "${label}" line:\n${devstack.tail()}`);
  return line.trim().slice(label.length).trim().split(/\s+/)[0]!;
}

describe('pnpm dev on a Redis Cluster (WALCAST_DEV_REDIS_CLUSTER=3)', () => {
  it('prints the cluster it started: three masters and their seeds', () => {
    const line = devstack.lines.find((l) => l.trim().startsWith('redis:'));
    expect(line).toMatch(
      /Redis Cluster of 3 masters, REDIS_CLUSTER_NODES=127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2}$/,
    );
  });

  it('delivers an inserted row to the supabase-js quick start', async () => {
    supabase = createClient(`http://127.0.0.1:${port}`, 'any-key', { realtime: { transport: Transport } });
    const got: Array<RealtimePostgresChangesPayload<Record<string, unknown>>> = [];
    const statuses: string[] = [];
    supabase
      .channel('users')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'users' }, (p) => got.push(p))
      .subscribe((status) => statuses.push(status));
    await waitFor(() => statuses.includes('SUBSCRIBED'), { message: 'SUBSCRIBED' });
    const name = uniqueName('hello');
    await sql(printed('database:'), `insert into users (name) values ('${name}')`);
    await waitFor(() => got.length >= 1, { timeoutMs: 15_000, message: 'the inserted row' });
    expect(statuses).toEqual(['SUBSCRIBED']);
    expect(got[0]!.eventType).toBe('INSERT');
    expect(got[0]!.new).toMatchObject({ name });
  });
});
