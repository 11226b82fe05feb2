// A channel's token over time: `access_token` refreshes (no reply, no change lost), bad refreshes
// and expiry (legacy phx_error; modern system error then phx_close, within a second of `exp`), and
// the settings that stop the gateway at start (exit code 2 with the reason).
import {
  GATEWAY_ENTRY,
  type WalcastStack,
  spawnService,
  waitFor,
  type Backends,
  type PhoenixFrame,
} from '@walcast/test-utils';

import { ISSUER, SECRET, claims, hsToken, nowSeconds } from './auth-support';
import {
  ClientPool,
  expectNoFrame,
  joinChangeMarker,
  insertUser,
  isChangeFor,
  startUsersStack,
  stopUsersStack,
} from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
const PG_CHANGES = { postgres_changes: [{ event: '*', schema: 'public', table: 'users' }] };

let backends: Backends;
let stack: WalcastStack;
let valid: string;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({
    gateways: 1,
    gatewayEnv: {
      SECURE_CHANNELS: 'true',
      ROW_AUTHORIZATION: 'off',
      JWT_SECRET: SECRET,
      JWT_CLAIM_VALIDATORS: JSON.stringify({ iss: ISSUER }),
      // The default clock tolerance (5 s) is kept: expiry must still close channels at `exp`.
    },
  }));
  valid = await hsToken();
});

afterEach(() => pool.closeAll());

afterAll(() => stopUsersStack(pool, stack, backends), 30_000);

/** Channel frames other than changes and the ok `system` notices. */
const isLifecycle = (f: PhoenixFrame): boolean =>
  ['phx_error', 'phx_close', 'system', 'phx_reply'].includes(f.event) &&
  f.topic !== 'phoenix' &&
  !(f.event === 'system' && f.payload?.status === 'ok');

describe('access_token', () => {
  it('replaces the token with no reply and no change lost while rows are inserted', async () => {
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    expect((await client.join(USERS, { user_token: valid })).payload.status).toBe('ok');
    const before = client.frames.length;
    const ids: number[] = [];
    let inserting = true;
    const writer = (async () => {
      while (inserting) ids.push(await insertUser(backends.pg.url));
    })();
    for (let i = 0; i < 10; i++) {
      client.send({
        topic: USERS,
        event: 'access_token',
        payload: { access_token: await hsToken(claims({ exp: nowSeconds() + 600 + i })) },
      });
      await new Promise((r) => setTimeout(r, 50));
    }
    // Refreshes and inserts interleave: keep writing until a few rows went in after the last push
    // (on a loaded machine each insert may take longer than the 50 ms between pushes).
    const afterRefreshes = ids.length;
    await waitFor(() => ids.length >= Math.max(6, afterRefreshes + 3), {
      timeoutMs: 10_000,
      message: 'rows inserted around the refreshes',
    });
    inserting = false;
    await writer;
    for (const id of ids) await client.next(isChangeFor(USERS, 'INSERT', id));
    expect(client.frames.slice(before).filter(isLifecycle)).toEqual([]);
  });

  it('a bad refresh ends a legacy channel with phx_error and a modern one with system error then phx_close', async () => {
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    expect((await client.join(USERS)).payload.status).toBe('ok');
    expect(
      (await client.join('realtime:room1', { config: PG_CHANGES, access_token: valid })).payload.status,
    ).toBe('ok');
    const expiredToken = await hsToken(claims({ exp: nowSeconds() - 10 }));
    client.send({ topic: USERS, event: 'access_token', payload: { access_token: expiredToken } });
    client.send({ topic: 'realtime:room1', event: 'access_token', payload: { access_token: 'not.a.jwt' } });
    expect((await client.next((f) => f.topic === USERS && isLifecycle(f))).event).toBe('phx_error');
    const system = await client.next(
      (f) => f.topic === 'realtime:room1' && f.event === 'system' && f.payload?.status === 'error',
    );
    expect(system.payload).toEqual({
      extension: 'system',
      status: 'error',
      message: 'The token provided is not a valid JWT',
      channel: 'room1',
    });
    await client.next((f) => f.topic === 'realtime:room1' && f.event === 'phx_close');
    // Both channels are gone: a change reaches neither (a marker channel's later change arrives after any).
    const marker = await joinChangeMarker(client, backends.pg.url);
    const id = await insertUser(backends.pg.url);
    await expectNoFrame(
      client,
      (f) => f.payload?.record?.id === id || f.payload?.data?.record?.id === id,
      marker,
    );
  });

  it('ignores sb_ keys, the same token and non-strings', async () => {
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    expect((await client.join(USERS)).payload.status).toBe('ok');
    for (const access_token of ['sb_publishable_x', valid, null, 42])
      client.send({ topic: USERS, event: 'access_token', payload: { access_token } });
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    expect(
      client.frames.filter((f) => f.topic === USERS && isLifecycle(f) && f.event !== 'phx_reply'),
    ).toEqual([]);
  });
});

describe('expiry while joined', () => {
  it('closes each channel within a second of exp: legacy phx_error, modern system error then phx_close', async () => {
    const exp = nowSeconds() + 2;
    const short = await hsToken(claims({ exp }));
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    expect((await client.join(USERS, { user_token: short })).payload.status).toBe('ok');
    expect(
      (await client.join('realtime:room1', { config: PG_CHANGES, access_token: short })).payload.status,
    ).toBe('ok');
    await client.next((f) => f.topic === USERS && f.event === 'phx_error', 5000);
    const legacyAt = Date.now();
    const system = await client.next(
      (f) => f.topic === 'realtime:room1' && f.event === 'system' && f.payload?.extension === 'system',
      5000,
    );
    expect(system.payload).toEqual({
      extension: 'system',
      status: 'error',
      message: 'Token has expired 0 seconds ago',
      channel: 'room1',
    });
    await client.next((f) => f.topic === 'realtime:room1' && f.event === 'phx_close', 1000);
    expect(legacyAt).toBeGreaterThanOrEqual(exp * 1000 - 20);
    expect(legacyAt).toBeLessThan(exp * 1000 + 1000);
    expect(client.isOpen).toBe(true);
  });

  it('a refresh before exp keeps the channel open past the old exp', async () => {
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    const exp = nowSeconds() + 1;
    expect((await client.join(USERS, { user_token: await hsToken(claims({ exp })) })).payload.status).toBe(
      'ok',
    );
    client.send({ topic: USERS, event: 'access_token', payload: { access_token: valid } });
    await new Promise((r) => setTimeout(r, Math.max(0, exp * 1000 - Date.now()) + 300));
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    expect(client.frames.some((f) => f.event === 'phx_error')).toBe(false);
  });
});

describe('settings', () => {
  async function exitOf(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
    const gateway = await spawnService({
      name: 'gateway-bad-config',
      entry: GATEWAY_ENTRY,
      env: { PORT: '0', REDIS_URL: backends.redis.url, ...env },
    });
    const timer = setTimeout(() => void gateway.kill(), 10_000);
    const exit = await gateway.exited.finally(() => clearTimeout(timer));
    return { code: exit.code, output: gateway.lines.join('\n') };
  }

  it('SECURE_CHANNELS=true without a key: exit 2, saying which settings to set', async () => {
    const { code, output } = await exitOf({ SECURE_CHANNELS: 'true' });
    expect(code).toBe(2);
    expect(output).toMatch(/SECURE_CHANNELS is on but no key is configured: set JWT_SECRET/);
  });

  it('NODE_ENV=production defaults to secure, so it needs a key too', async () => {
    const { code, output } = await exitOf({ NODE_ENV: 'production' });
    expect(code).toBe(2);
    expect(output).toMatch(/the default when NODE_ENV=production/);
  });

  it('invalid JSON in JWT_CLAIM_VALIDATORS: exit 2 naming it', async () => {
    const { code, output } = await exitOf({
      SECURE_CHANNELS: 'true',
      ROW_AUTHORIZATION: 'off',
      JWT_SECRET: SECRET,
      JWT_CLAIM_VALIDATORS: '{"iss":',
    });
    expect(code).toBe(2);
    expect(output).toMatch(/JWT_CLAIM_VALIDATORS: expected a JSON object/);
    expect(output).not.toContain(SECRET);
  });
});
