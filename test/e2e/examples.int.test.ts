/**
 * The Node example (examples/follow-table) run as a person would run it, against a real walcast:
 * it prints the changes of the table it follows, with its filter. The browser example is driven in
 * test/browser/todo-list.browser.test.ts.
 */
import { resolve } from 'node:path';
import {
  spawnService,
  startStackWithSchema,
  sql,
  uniqueName,
  waitFor,
  type Backends,
  type ServiceProcess,
  type WalcastStack,
} from '@walcast/test-utils';

jest.setTimeout(60_000);

const SCRIPT = resolve(__dirname, '../../examples/follow-table/follow-table.js');

let backends: Backends;
let stack: WalcastStack;
const running: ServiceProcess[] = [];

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema([
    'create table public.users (id serial primary key, name text)',
    'create publication supabase_realtime for all tables',
  ]));
}, 120_000);

afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
  await stack?.stop();
  await backends?.stop();
}, 30_000);

async function follow(...args: string[]): Promise<ServiceProcess> {
  const process = await spawnService({
    name: 'follow-table',
    entry: SCRIPT,
    args,
    env: { WALCAST_URL: `http://127.0.0.1:${stack.gatewayPorts[0]}`, WALCAST_TOKEN: 'any-key' },
  });
  running.push(process);
  await waitFor(() => process.lines.some((l) => l.startsWith('following ')), {
    timeoutMs: 10_000,
    message: `follow-table to subscribe; printed ${JSON.stringify(process.lines)}`,
  });
  return process;
}

describe('examples/follow-table', () => {
  it('prints each change of public.users, from the insert to the delete', async () => {
    const follower = await follow();
    const name = uniqueName('followed');
    await sql(backends.pg.url, `insert into users (name) values ('${name}')`);
    await sql(backends.pg.url, `update users set name = '${name}_2' where name = '${name}'`);
    await sql(backends.pg.url, `delete from users where name = '${name}_2'`);
    const printed = await waitFor(
      () => {
        const lines = follower.lines.filter((l) => / (INSERT|UPDATE|DELETE) public\.users /.test(l));
        return lines.length >= 3 ? lines : undefined;
      },
      { timeoutMs: 10_000, message: 'three changes printed' },
    );
    expect(printed.map((l) => l.split(' ').slice(1, 3).join(' '))).toEqual([
      'INSERT public.users',
      'UPDATE public.users',
      'DELETE public.users',
    ]);
    expect(printed[0]).toContain(`"name":"${name}"`);
    expect(printed[1]).toContain(`"name":"${name}_2"`);
    expect(printed[2]).toMatch(/DELETE public\.users \{"id":\d+\}/);
  });

  it('follows the table and filter it is given', async () => {
    const wanted = uniqueName('wanted');
    const follower = await follow('public.users', `name=eq.${wanted}`);
    const other = uniqueName('other');
    await sql(backends.pg.url, `insert into users (name) values ('${other}'), ('${wanted}')`);
    await waitFor(() => follower.lines.some((l) => l.includes(`"name":"${wanted}"`)), {
      timeoutMs: 10_000,
      message: `the ${wanted} row printed; got ${JSON.stringify(follower.lines)}`,
    });
    // Both rows were committed together, the other first: had it passed the filter, it would be out.
    expect(follower.lines.filter((l) => l.includes(other))).toEqual([]);
    expect(follower.lines.find((l) => l.startsWith('following '))).toBe(
      `following public.users where name=eq.${wanted} on http://127.0.0.1:${stack.gatewayPorts[0]} (Ctrl-C to stop)`,
    );
  });
});
