/**
 * One topic with 10,000 presences, each tracked by its own websocket (a topic admits one join per
 * socket), half on each of two gateways; then a late supabase-js joiner gets the whole state in one
 * presence_state frame. Trackers are raw sockets on a private channel joined with presence disabled:
 * on a private channel tracking does not make the tracker a presence reader, so the run costs
 * 10,000 diffs to one reader rather than 10,000 to each of 10,000 (on a public channel a first track
 * makes the channel a reader, which would be 10^8 frames). SECURE_CHANNELS with an open policy on
 * `big:%` topics; MAX_PRESENCE_EVENTS_PER_SECOND raised so the gateways take the tracks as fast as
 * they come. 10,000 client sockets fit this process's 20,000 open files.
 */
import { randomUUID } from 'node:crypto';
import {
  PhoenixTestClient,
  SUPABASE_AUTH_SQL,
  WalcastStack,
  sql,
  startBackends,
  type Backends,
} from '@walcast/test-utils';
import { signHs256 } from './support/jwt';
import { PresenceChannel } from './support/presence-client';

jest.setTimeout(300_000);

const PRESENCES = 10_000;
const CONCURRENCY = 500;
const SECRET = 'presence-scale-test-secret-with-at-least-32-chars';
const ANON_KEY = signHs256({ role: 'anon' }, SECRET);
// One token for every tracker: identical authorization checks in flight share one answer.
const TOKEN = signHs256({ role: 'authenticated', sub: randomUUID() }, SECRET);

let backends: Backends;
let stack: WalcastStack;
const trackers: PhoenixTestClient[] = [];

beforeAll(async () => {
  backends = await startBackends();
  await sql(backends.pg.url, ...SUPABASE_AUTH_SQL, 'create publication supabase_realtime for all tables');
  stack = await WalcastStack.start(backends, {
    gateways: 2,
    gatewayEnv: {
      SECURE_CHANNELS: 'true',
      JWT_SECRET: SECRET,
      MAX_PRESENCE_EVENTS_PER_SECOND: '1000000',
      LOG_LEVEL: 'warn',
    },
  });
  await sql(
    backends.pg.url,
    `create policy read_big on realtime.messages for select to authenticated
       using (realtime.topic() like 'big:%')`,
    `create policy write_big on realtime.messages for insert to authenticated
       with check (realtime.topic() like 'big:%')`,
  );
}, 120_000);

afterAll(async () => {
  for (let i = 0; i < trackers.length; i += CONCURRENCY) {
    await Promise.allSettled(trackers.slice(i, i + CONCURRENCY).map((t) => t.terminate()));
  }
  await stack?.stop();
  await backends?.stop();
}, 120_000);

/** Opens a raw socket on `gateway`, joins `topic` privately without reading presence, tracks under `key`. */
async function track(gateway: number, topic: string, key: string, u: number): Promise<void> {
  const url = `${stack.endpoint(gateway)}/websocket?apikey=${ANON_KEY}`;
  const client = await PhoenixTestClient.connect(url, { vsn: '1.0.0' });
  trackers.push(client);
  const joined = await client.join(
    topic,
    { config: { private: true, presence: { enabled: false, key }, broadcast: {} }, access_token: TOKEN },
    30_000,
  );
  if ((joined.payload as { status?: unknown }).status !== 'ok')
    throw new Error(`join ${key}: ${JSON.stringify(joined.payload)}`);
  const ref = client.send({
    topic,
    event: 'presence',
    payload: { type: 'presence', event: 'track', payload: { u } },
  });
  const reply = await client.next((f) => f.event === 'phx_reply' && f.ref === ref, 30_000);
  if ((reply.payload as { status?: unknown }).status !== 'ok')
    throw new Error(`track ${key}: ${JSON.stringify(reply.payload)}`);
}

describe('a topic with many presences', () => {
  it(`a late joiner gets all ${PRESENCES} presences in one presence_state frame`, async () => {
    const name = `big:${randomUUID()}`;
    const topic = `realtime:${name}`;
    const startedAt = Date.now();
    for (let i = 0; i < PRESENCES; i += CONCURRENCY) {
      const batch = Array.from({ length: Math.min(CONCURRENCY, PRESENCES - i) }, (_, j) => i + j);
      await Promise.all(batch.map((n) => track(n % 2, topic, `k${n}`, n)));
    }
    console.log(`${PRESENCES} sockets joined and tracked in ${Date.now() - startedAt} ms`);

    const late = new PresenceChannel(stack.gatewayPorts[1]!, name, {
      private: true,
      apiKey: ANON_KEY,
      token: TOKEN,
      key: 'late',
    });
    try {
      const joinAt = Date.now();
      await late.synced(30_000);
      const syncMs = Date.now() - joinAt;
      const states = late.states();
      const bytes = late.frames
        .filter((f) => f.dir === 'in' && !f.binary && f.bytes.includes('presence_state'))
        .reduce((n, f) => n + f.bytes.length, 0);
      console.log(
        `late joiner: SUBSCRIBED to sync in ${syncMs} ms; one presence_state of ${Object.keys(states[0] ?? {}).length} keys, ${bytes} bytes`,
      );
      expect(states).toHaveLength(1);
      const state = states[0]!;
      expect(Object.keys(state)).toHaveLength(PRESENCES);
      for (let n = 0; n < PRESENCES; n++) {
        const metas = state[`k${n}`]?.metas;
        if (metas?.length !== 1 || metas[0]!.u !== n) throw new Error(`k${n}: ${JSON.stringify(metas)}`);
      }
      expect(Object.keys(late.state())).toHaveLength(PRESENCES);
    } finally {
      await late.close();
    }
  });
});
