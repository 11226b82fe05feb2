// Row filters cannot stall the gateway: `like` patterns that made a RegExp backtrack for minutes and
// `match` patterns with nested quantifiers are joined, evaluated against long values, and a control
// client on the same gateway keeps getting its changes. Filters still answer correctly meanwhile.
import {
  type Backends,
  type PhoenixFrame,
  type PhoenixTestClient,
  type WalcastStack,
} from '@walcast/test-utils';

import { ClientPool, insertUser, isChangeFor, startUsersStack, stopUsersStack } from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
/** 24 `%` before an end the value lacks: ~forever for the RegExp the gateway once built. */
const LIKE_TOPIC = `${USERS}:name=like.${'%'.repeat(24)}x`;
const MATCH_FILTER = 'name=match.^(.*)*(a*)*x$';
const VALUE = 'a'.repeat(20_000);

let backends: Backends;
let stack: WalcastStack;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({ gateways: 1 }));
});

afterAll(() => stopUsersStack(pool, stack, backends), 30_000);

/** A modern postgres_changes join with `filter`, once its subscription is live. */
async function joinModern(client: PhoenixTestClient, topic: string, filter: string): Promise<void> {
  const config = { postgres_changes: [{ event: 'INSERT', schema: 'public', table: 'users', filter }] };
  expect((await client.join(topic, { config })).payload.status).toBe('ok');
  await client.next((f) => f.topic === topic && f.event === 'system' && f.payload?.status === 'ok');
}

/** The id of the row a legacy or modern change frame carries; undefined for other frames. */
function changedId(f: PhoenixFrame): unknown {
  return f.event === 'postgres_changes' ? f.payload?.data?.record?.id : f.payload?.record?.id;
}

describe('pathological filters', () => {
  it('leave the gateway delivering to a control client, and still answer correctly', async () => {
    const legacy = await pool.open({ vsn: '1.0.0' });
    expect((await legacy.join(LIKE_TOPIC)).payload.status).toBe('ok');
    const modern = await pool.open({ vsn: '2.0.0' });
    await joinModern(modern, 'realtime:match', MATCH_FILTER);
    const control = await pool.open({ vsn: '2.0.0' });
    expect((await control.join(USERS)).payload.status).toBe('ok');

    // Neither filter matches these: both are evaluated to the end of a 20 000-character value.
    const misses: number[] = [];
    for (let i = 0; i < 3; i++) misses.push(await insertUser(backends.pg.url, VALUE));
    for (const id of misses) await control.next(isChangeFor(USERS, 'INSERT', id));

    // Both filters match this one; the misses before it were not delivered to them.
    const hit = await insertUser(backends.pg.url, `${VALUE}x`);
    await control.next(isChangeFor(USERS, 'INSERT', hit));
    await legacy.next(isChangeFor(LIKE_TOPIC, 'INSERT', hit));
    await modern.next((f) => f.topic === 'realtime:match' && changedId(f) === hit);
    const ids = (client: PhoenixTestClient): unknown[] =>
      client.frames.map(changedId).filter((id) => id !== undefined);
    expect(ids(legacy)).toEqual([hit]);
    expect(ids(modern)).toEqual([hit]);
  });

  it('refuses a match pattern RE2 cannot run, naming the feature, and keeps the socket', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    const reply = await client.join(`${USERS}:name=match.(a)\\1`);
    expect(reply.payload.status).toBe('error');
    expect(reply.payload.response.reason).toContain('back-references');
    expect((await client.heartbeat()).payload.status).toBe('ok');
  });
});
