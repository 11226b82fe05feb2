/**
 * The todo-list example (examples/todo-list) in headless Chromium: its own server, on a walcast
 * with secure channels and row authorization, two people in two pages. A todo inserted with SQL
 * appears on its owner's page and not on the other's; each adds and ticks todos through the page
 * and sees them come back through walcast; both see each other online and exchange a broadcast.
 * Screenshots: test-output/browser/todo-list-*.png.
 *
 * "Not on bob's page" is checked after a later row of bob's arrived there (one table's changes
 * reach a channel in commit order).
 */
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import {
  SUPABASE_AUTH_SQL,
  WalcastStack,
  freePort,
  spawnService,
  sql,
  startBackends,
  uniqueName,
  waitFor,
  type Backends,
  type ServiceProcess,
} from '@walcast/test-utils';
import { describeInChromium, launchChromium, openPage, screenshot } from './support/chromium';

jest.setTimeout(60_000);

const SECRET = 'todo-list-browser-test-secret-of-32-characters';
const SERVER = resolve(__dirname, '../../examples/todo-list/server.js');

let backends: Backends;
let stack: WalcastStack;
let server: ServiceProcess;
let serverUrl = '';
let browser: Browser;

interface Person {
  page: Page;
  problems: string[];
  id: string;
}
const people: Record<'alice' | 'bob', Person> = {} as never;

async function signIn(name: 'alice' | 'bob'): Promise<Person> {
  const { page, problems } = await openPage(browser, `${serverUrl}/?name=${name}`);
  await page.locator('#status.live').waitFor({ timeout: 10_000 });
  const id = (await page.locator('body').getAttribute('data-user-id'))!;
  return { page, problems, id };
}

const todo = (page: Page, title: string) => page.locator('#todos li', { hasText: title });

describeInChromium('todo-list example', () => {
  beforeAll(async () => {
    backends = await startBackends();
    await sql(backends.pg.url, ...SUPABASE_AUTH_SQL, 'create publication supabase_realtime for all tables');
    stack = await WalcastStack.start(backends, {
      gatewayEnv: { SECURE_CHANNELS: 'true', JWT_SECRET: SECRET },
    });
    const port = await freePort();
    serverUrl = `http://127.0.0.1:${port}`;
    server = await spawnService({
      name: 'todo-list',
      entry: SERVER,
      env: {
        WALCAST_URL: `http://127.0.0.1:${stack.gatewayPorts[0]}`,
        DATABASE_URL: backends.pg.url,
        JWT_SECRET: SECRET,
        PORT: String(port),
      },
      readyUrl: `${serverUrl}/config.json`,
    });
    await server.waitForReady();
    browser = await launchChromium();
    people.alice = await signIn('alice');
    people.bob = await signIn('bob');
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await stack?.stop();
    await backends?.stop();
  }, 30_000);

  it('a todo inserted with SQL appears on its owner’s page only (row-level security)', async () => {
    const { alice, bob } = people;
    const secret = uniqueName('alice_only');
    await sql(backends.pg.url, `insert into todos (owner, title) values ('${alice.id}', '${secret}')`);
    await todo(alice.page, secret).waitFor({ timeout: 5_000 });

    const marker = uniqueName('bob_marker');
    await sql(backends.pg.url, `insert into todos (owner, title) values ('${bob.id}', '${marker}')`);
    await todo(bob.page, marker).waitFor({ timeout: 5_000 });
    await expect(todo(bob.page, secret).count()).resolves.toBe(0);
    await expect(todo(alice.page, marker).count()).resolves.toBe(0);
  });

  it('todos added and ticked in the page come back through walcast', async () => {
    const { bob } = people;
    const title = uniqueName('bob_adds');
    await bob.page.fill('#title', title);
    await bob.page.press('#title', 'Enter');
    await todo(bob.page, title).waitFor({ timeout: 5_000 });
    await todo(bob.page, title).locator('input[type=checkbox]').check();
    await bob.page.locator('#todos li.done', { hasText: title }).waitFor({ timeout: 5_000 });
    await screenshot(bob.page, 'todo-list-bob');
  });

  it('two pages see each other online and exchange a broadcast message', async () => {
    const { alice, bob } = people;
    for (const { page } of [alice, bob]) {
      await waitFor(
        async () => (await page.locator('#people li').allTextContents()).join(',') === 'alice,bob',
        {
          timeoutMs: 5_000,
          message: 'alice and bob online',
        },
      );
    }
    const text = uniqueName('hello_bob');
    await alice.page.fill('#message', text);
    await alice.page.press('#message', 'Enter');
    const received = bob.page.locator('#messages li', { hasText: text });
    await received.waitFor({ timeout: 5_000 });
    await expect(received.locator('.from').textContent()).resolves.toBe('alice');
    await screenshot(alice.page, 'todo-list-alice');
    expect([...alice.problems, ...bob.problems]).toEqual([]);
  });
});
