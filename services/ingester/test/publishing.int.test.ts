// What the ingester puts on Redis: one envelope per change (`<header JSON>\n<event JSON>`) on the
// table's topic, with a per-topic sequence number, read by a plain Redis pattern subscriber.
import { parseTopic, topicForTable } from '@walcast/protocol';
import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BusTap, type TapMessage } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;
let tap: BusTap;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.things (id int primary key, name text, n int8, tags text[])',
      'create table public.others (id int primary key)',
      `create table public."we:ird*name" (id int primary key, "odd:col" text)`,
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 0 },
  ));
  tap = await BusTap.open(backends.redis.url);
});

afterAll(async () => {
  await tap?.close();
  await stack?.stop();
  await backends?.stop();
});

async function waitForTable(table: string, count: number): Promise<TapMessage[]> {
  return waitFor(
    () => {
      const got = tap.ofTable(table);
      return got.length >= count ? got : null;
    },
    { timeoutMs: 10_000, message: `${count} changes of ${table}` },
  );
}

describe('publishing changes to Redis', () => {
  it('publishes insert, update, delete and truncate as envelopes on the table topic', async () => {
    await sql(
      backends.pg.url,
      `insert into things values (1, 'one', 9007199254740993, array['a', 'b'])`,
      `insert into others values (1)`,
      `update things set name = 'uno' where id = 1`,
      `delete from things where id = 1`,
      `truncate things`,
    );
    const msgs = await waitForTable('things', 4);
    expect(tap.malformed).toEqual([]);
    expect(msgs.map((m) => m.header.type)).toEqual(['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);
    expect(msgs.map((m) => m.event.type)).toEqual(['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']);
    for (const m of msgs) {
      expect(m.channel).toBe(topicForTable('public', 'things'));
      expect(m.channel).toBe(topicForTable('public', 'things'));
      // Exactly these fields: the primary key columns and the publish time included.
      expect(Object.keys(m.header).sort()).toEqual(['lsn', 'pk', 'pos', 'seq', 'src', 'ts', 'type', 'v']);
      expect(m.header.pos).toMatch(/^[0-9A-F]{16}-[0-9A-F]{8}$/);
      expect(m.header.pk).toEqual(['id']);
      expect(Math.abs(m.header.ts! - Date.now())).toBeLessThan(10_000);
      expect(m.header.v).toBe(1);
      expect(m.header.src).toBe(msgs[0]!.header.src);
      expect(m.header.lsn).toMatch(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);
      expect(m.event).toMatchObject({ schema: 'public', table: 'things', errors: null });
      expect(m.event['commit_timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    // Per-topic sequence: consecutive on this topic, whatever was published on others.
    const seqs = msgs.map((m) => m.header.seq);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[0]! + i);
    expect(tap.ofTable('others').map((m) => m.header.seq)).toEqual([1]);
    // Each statement was its own transaction: commit LSNs strictly increase.
    const numeric = msgs.map((m) => {
      const [hi, lo] = m.header.lsn.split('/');
      return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
    });
    for (let i = 1; i < numeric.length; i++) expect(numeric[i]! > numeric[i - 1]!).toBe(true);

    const [insert, update, del, truncate] = msgs.map((m) => m.event);
    expect(insert).toMatchObject({
      record: { id: 1, name: 'one', tags: ['a', 'b'] },
      columns: [
        { name: 'id', type: 'int4' },
        { name: 'name', type: 'text' },
        { name: 'n', type: 'int8' },
        { name: 'tags', type: '_text' },
      ],
    });
    // int8 keeps PostgreSQL's digits (2^53 + 1 is not representable as a double).
    expect(msgs[0]!.eventJson).toMatch(/"n":(9007199254740993|"9007199254740993")[,}]/);
    expect(update).toMatchObject({ record: { id: 1, name: 'uno' }, old_record: { id: 1 } });
    expect(del).toMatchObject({ old_record: { id: 1 } });
    expect(del).not.toHaveProperty('record');
    expect(truncate).not.toHaveProperty('record');
  });

  it('escapes a table name holding ":" and "*" so that parseTopic decodes it back', async () => {
    await sql(backends.pg.url, `insert into "we:ird*name" values (7, 'x:y*z')`);
    const [msg] = await waitForTable('we:ird*name', 1);
    expect(msg!.channel).toBe(topicForTable('public', 'we:ird*name'));
    expect(msg!.channel).not.toContain('*');
    expect(msg!.channel.split(':')).toHaveLength(5); // walcast, v1, table, schema, table
    expect(parseTopic(msg!.channel)).toEqual({ schema: 'public', table: 'we:ird*name' });
    expect(msg!.event.record).toEqual({ id: 7, 'odd:col': 'x:y*z' });
  });

  it('publishes every change of a multi-row transaction under one commit LSN, seq without gaps', async () => {
    const before = tap.ofTable('others').length;
    await sql(backends.pg.url, 'insert into others select generate_series(2, 501)');
    const msgs = (await waitForTable('others', before + 500)).slice(before);
    expect(new Set(msgs.map((m) => m.header.lsn)).size).toBe(1);
    expect(msgs.map((m) => m.event.record?.['id'])).toEqual(Array.from({ length: 500 }, (_, i) => i + 2));
    expect(msgs.map((m) => m.header.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 2));
  });
});
