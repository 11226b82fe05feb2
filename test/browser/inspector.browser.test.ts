/**
 * The inspector (docs/inspector.md) in headless Chromium, served by real gateways in front of the
 * real ingester, PostgreSQL and Redis: a row inserted with SQL appears on the page within a second
 * and expands to its payload; pause, resume and the filters; two pages on two gateways exchange a
 * broadcast and see each other present; a refused connection and a refused binding are shown
 * plainly, and a pasted token joins a secure gateway whose secret the page never holds.
 * Screenshots: test-output/browser/inspector-*.png.
 *
 * "Not shown" is checked after a later event that is shown (one channel's events arrive in order).
 */
import type { Browser, Page } from 'playwright-core';
import { WalcastStack, freePort, sql, startBackends, uniqueName, type Backends } from '@walcast/test-utils';
import { describeInChromium, launchChromium, openPage, screenshot } from './support/chromium';
import { signHs256 } from './support/hs256';

jest.setTimeout(60_000);

const SECRET = 'inspector-browser-test-secret-of-32-characters';
const SECURE_GATEWAY = 2;

let backends: Backends;
let stack: WalcastStack;
let browser: Browser;
const pages: Page[] = [];

/** The inspector of gateway `gateway`, with `query` filled in (`join: '1'` joins at once). */
async function inspector(
  gateway: number,
  query: Record<string, string>,
): Promise<{ page: Page; problems: string[] }> {
  const url = `http://127.0.0.1:${stack.gatewayPorts[gateway]}/inspector/?${new URLSearchParams(query)}`;
  const opened = await openPage(browser, url);
  pages.push(opened.page);
  return opened;
}

const joined = (page: Page) => page.locator('#join-state.state-subscribed').waitFor({ timeout: 10_000 });
const eventRow = (page: Page, kind: string, text: string) =>
  page.locator(`#event-rows tr.event[data-kind="${kind}"]`, { hasText: text });

describeInChromium('inspector', () => {
  beforeAll(async () => {
    backends = await startBackends();
    await sql(
      backends.pg.url,
      'create table public.notes (id serial primary key, body text)',
      'create publication supabase_realtime for all tables',
    );
    stack = await WalcastStack.start(backends, { gateways: 2 });
    stack.gatewayPorts.push(await freePort());
    await stack.startGateway(SECURE_GATEWAY, {
      SECURE_CHANNELS: 'true',
      JWT_SECRET: SECRET,
      ROW_AUTHORIZATION: 'off',
    });
    browser = await launchChromium();
  }, 120_000);

  afterEach(async () => {
    await Promise.all(pages.splice(0).map((p) => p.close()));
  });

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
    await backends?.stop();
  }, 30_000);

  it('shows a row inserted with SQL within a second; the row expands to its payload', async () => {
    const { page, problems } = await inspector(0, {
      channel: uniqueName('notes'),
      table: 'notes',
      join: '1',
    });
    await joined(page);
    const body = uniqueName('hello');
    await sql(backends.pg.url, `insert into notes (body) values ('${body}')`);
    const insertedAt = Date.now();
    const row = eventRow(page, 'postgres_changes', body);
    await row.waitFor({ timeout: 1_000 });
    console.log(`a row inserted with SQL was on the page ${Date.now() - insertedAt} ms after its commit`);
    await expect(row.locator('.name').textContent()).resolves.toBe('INSERT');
    await expect(row.locator('.summary').textContent()).resolves.toContain(`public.notes {"id":`);

    await row.click();
    const detail = page.locator('#event-rows tr.detail pre');
    expect(JSON.parse((await detail.textContent())!)).toMatchObject({
      schema: 'public',
      table: 'notes',
      eventType: 'INSERT',
      new: { body },
      errors: null,
    });
    await expect(page.locator('#join-reason').textContent()).resolves.toBe(
      'joined: events will appear below',
    );
    await screenshot(page, 'inspector-row');
    expect(problems).toEqual([]);
  });

  it('holds events back while paused, shows them on resume; the text and kind filters narrow the list', async () => {
    const { page, problems } = await inspector(0, {
      channel: uniqueName('pause'),
      table: 'notes',
      join: '1',
    });
    await joined(page);
    await page.click('#pause');
    const held = uniqueName('held');
    await sql(backends.pg.url, `insert into notes (body) values ('${held}')`);
    await page.locator('#pause', { hasText: 'Resume (1 held)' }).waitFor({ timeout: 5_000 });
    await expect(eventRow(page, 'postgres_changes', held).count()).resolves.toBe(0);
    await page.click('#pause');
    await eventRow(page, 'postgres_changes', held).waitFor({ timeout: 2_000 });
    await expect(page.locator('#pause').textContent()).resolves.toBe('Pause');

    const other = uniqueName('other');
    await sql(backends.pg.url, `insert into notes (body) values ('${other}')`);
    await eventRow(page, 'postgres_changes', other).waitFor({ timeout: 5_000 });
    await page.fill('#text-filter', held);
    await expect(page.locator('#event-rows tr.event').count()).resolves.toBe(1);
    await expect(eventRow(page, 'postgres_changes', held).count()).resolves.toBe(1);
    await page.fill('#text-filter', '');
    await page.selectOption('#kind-filter', 'channel');
    await expect(
      page
        .locator('#event-rows tr.event')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-kind'))),
    ).resolves.toEqual(['channel']);
    expect(problems).toEqual([]);
  });

  it('two pages on two gateways exchange a broadcast and see each other present', async () => {
    const channel = uniqueName('room');
    const people: Array<{ page: Page; problems: string[]; key: string }> = [];
    for (const [gateway, key] of [
      [0, 'alice'],
      [1, 'bob'],
    ] as const) {
      const opened = await inspector(gateway, { channel });
      await opened.page.fill('#presence-key', key);
      await opened.page.click('#join');
      await joined(opened.page);
      await opened.page.fill('#presence-payload', JSON.stringify({ user: key }));
      await opened.page.click('#track');
      await opened.page.locator('#track-result', { hasText: 'ok' }).waitFor({ timeout: 5_000 });
      people.push({ ...opened, key });
    }
    for (const { page } of people) {
      await page.locator('#present li[data-key="alice"]').waitFor({ timeout: 5_000 });
      await page.locator('#present li[data-key="bob"]').waitFor({ timeout: 5_000 });
      await expect(page.locator('#present-count').textContent()).resolves.toBe('2 keys, 2 presences');
    }
    const [alice, bob] = people as [(typeof people)[0], (typeof people)[0]];
    await expect(bob.page.locator('#present li[data-key="alice"] code').textContent()).resolves.toBe(
      '{"user":"alice"}',
    );

    const text = uniqueName('hello from alice');
    await alice.page.fill('#broadcast-event', 'greeting');
    await alice.page.fill('#broadcast-payload', JSON.stringify({ text }));
    await alice.page.click('#send');
    await alice.page.locator('#send-result', { hasText: 'ok' }).waitFor({ timeout: 5_000 });
    const received = eventRow(bob.page, 'broadcast', text);
    await received.waitFor({ timeout: 5_000 });
    await expect(received.locator('.name').textContent()).resolves.toBe('greeting');
    await eventRow(alice.page, 'broadcast', text).waitFor({ timeout: 5_000 }); // self is ticked
    await eventRow(bob.page, 'presence', 'alice').waitFor({ timeout: 5_000 });

    await screenshot(alice.page, 'inspector-alice');
    await screenshot(bob.page, 'inspector-bob');
    expect([...alice.problems, ...bob.problems]).toEqual([]);
  });

  it('shows a refused binding as the server’s error, and the channel’s other listeners still work', async () => {
    const { page } = await inspector(0, {
      channel: uniqueName('bad'),
      table: 'notes',
      filter: 'id=zz.1',
      join: '1',
    });
    const error = page.locator('#event-rows tr.event.is-error[data-kind="system"]');
    await error.waitFor({ timeout: 10_000 });
    await expect(error.locator('.summary').textContent()).resolves.toMatch(/postgres_changes: .*zz/);
    await expect(page.locator('#last-error').textContent()).resolves.toMatch(
      /^last error: system error: .*zz/,
    );
    await joined(page);
    await page.click('#send');
    await eventRow(page, 'broadcast', 'hello').waitFor({ timeout: 5_000 });
    await screenshot(page, 'inspector-refused-binding');
  });

  it('on a secure gateway: without a token the refusal is plain; a pasted token joins; the secret is nowhere in the page', async () => {
    const channel = uniqueName('secure');
    const { page, problems } = await inspector(SECURE_GATEWAY, { channel, table: 'notes' });
    await page.click('#join');
    await page.locator('#join-state.state-channel_error').waitFor({ timeout: 10_000 });
    await expect(page.locator('#join-reason').textContent()).resolves.toMatch(/did not connect.*token/);
    await eventRow(page, 'socket', 'HTTP 403').first().waitFor({ timeout: 5_000 });
    await screenshot(page, 'inspector-no-token');
    // The browser logs each refused websocket; nothing else went wrong.
    expect(problems.filter((p) => !/WebSocket connection to .* failed/.test(p))).toEqual([]);

    await page.fill('#token', signHs256({ role: 'anon' }, SECRET));
    await page.click('#join');
    await joined(page);
    const body = uniqueName('secure-row');
    await sql(backends.pg.url, `insert into notes (body) values ('${body}')`);
    await eventRow(page, 'postgres_changes', body).waitFor({ timeout: 5_000 });

    expect(await page.content()).not.toContain(SECRET);
    const served = await page.evaluate(async () =>
      Promise.all(['./', 'inspector.js', 'inspector.css'].map(async (f) => (await fetch(f)).text())),
    );
    for (const text of served) expect(text).not.toContain(SECRET);
  });
});
