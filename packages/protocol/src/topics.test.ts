import { matchesPattern } from '../../bus/src/bus';
import { hashSlot } from './hash-slot';
import {
  FAN_IN_ALL_CHANNEL,
  fanInChannelForPattern,
  fanInChannelForSchema,
  historyKeyFor,
  historyLastKeyForSlot,
  historyStartKeyForSlot,
  historyTopicsKeyForSlot,
  POSITION_CHANNEL,
  positionChannelForSlot,
  slotOfPositionChannel,
  PRESENCE_CLUSTER_LEASES_KEY,
  PRESENCE_CLUSTER_SWEEPS_KEY,
  presenceClusterGatewayEntriesKey,
  presenceClusterGatewayTopicsKey,
  presenceClusterStateKey,
  topicForBroadcast,
  parseTopic,
  patternForAll,
  patternForSchema,
  presenceFieldPrefix,
  presenceGatewayEntriesKey,
  presenceGatewayTopicsKey,
  presenceStateKey,
  topicForTable,
} from './topics';

const awkward: Array<[string, string]> = [
  ['public', 'users'],
  ['my:schema', 'a:b:c'],
  ['*', '*'],
  ['glob?[x]', 'back\\slash'],
  ['100%', '%41%'],
  ['with space', ' leading and trailing '],
  ['caf\u00e9', '\u65e5\u672c\u8a9e'],
  ['emoji\u{1F600}', 'quote\'"~!()'],
  ['dots.in.name', 'slash/and+plus&amp=eq'],
];

describe('topicForTable / parseTopic', () => {
  it.each(awkward)('round-trips schema %p and table %p', (schema, table) => {
    expect(parseTopic(topicForTable(schema, table))).toEqual({ schema, table });
  });

  it('leaves no `:` and no glob special inside the encoded parts', () => {
    const topic = topicForTable('a:*?[]\\b', 'c:*?[]\\d');
    const parts = topic.slice('walcast:v1:table:'.length);
    expect(parts.split(':')).toHaveLength(2);
    expect(parts).not.toMatch(/[*?[\]\\]/);
  });

  it('gives different tables different topics', () => {
    expect(topicForTable('a:b', 'c')).not.toBe(topicForTable('a', 'b:c'));
    expect(topicForTable('a', 'b')).not.toBe(topicForTable('A', 'b'));
  });

  it.each([
    'realtime:public:users',
    'walcast:v2:table:public:users',
    'walcast:v1:table:',
    'walcast:v1:table:public',
    'walcast:v1:table::users',
    'walcast:v1:table:public:',
    'walcast:v1:table:a:b:c',
    'walcast:v1:table:%E0%A4%A:users',
    'walcast:v1:table:public:%ZZ',
  ])('parseTopic rejects the foreign name %p', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });
});

describe('patternForSchema', () => {
  it.each(awkward)('matches every table of schema %p', (schema, table) => {
    expect(matchesPattern(patternForSchema(schema), topicForTable(schema, table))).toBe(true);
    expect(matchesPattern(patternForSchema(schema), topicForTable(schema, 'other'))).toBe(true);
  });

  it('does not match tables of other schemas', () => {
    const pattern = patternForSchema('public');
    expect(matchesPattern(pattern, topicForTable('public2', 'users'))).toBe(false);
    expect(matchesPattern(pattern, topicForTable('pub', 'lic'))).toBe(false);
    expect(matchesPattern(pattern, topicForTable('public:x', 'users'))).toBe(false);
    expect(matchesPattern(pattern, topicForTable('Public', 'users'))).toBe(false);
  });

  it('treats a `*` in the schema name literally', () => {
    const pattern = patternForSchema('*');
    expect(matchesPattern(pattern, topicForTable('*', 't'))).toBe(true);
    expect(matchesPattern(pattern, topicForTable('public', 't'))).toBe(false);
  });

  it('does not let a schema that is a prefix of another match it', () => {
    expect(matchesPattern(patternForSchema('a'), topicForTable('a:b', 'c'))).toBe(false);
    expect(matchesPattern(patternForSchema('a:b'), topicForTable('a', 'b:c'))).toBe(false);
  });
});

describe('patternForAll', () => {
  it.each(awkward)('matches the table topic of %p.%p', (schema, table) => {
    expect(matchesPattern(patternForAll(), topicForTable(schema, table))).toBe(true);
  });

  it('does not match names outside the table namespace', () => {
    expect(matchesPattern(patternForAll(), 'realtime:public:users')).toBe(false);
  });
});

describe('presence keys', () => {
  it('put a channel’s keys in one hash slot, apart per namespace and per gateway', () => {
    for (const sub of ['room1', 'a:b*c?{d}|', 'é %']) {
      const state = presenceStateKey(sub, false);
      const tag = /\{[^{}]+\}/.exec(state)?.[0];
      expect(tag).toBeDefined();
      expect(presenceGatewayEntriesKey(sub, false, 'gw-1')).toContain(tag!);
      expect(presenceStateKey(sub, true)).not.toBe(state);
      expect(presenceGatewayEntriesKey(sub, false, 'gw-1')).not.toBe(
        presenceGatewayEntriesKey(sub, false, 'gw-2'),
      );
    }
    expect(presenceStateKey('x', false).startsWith('walcast:v1:presence:')).toBe(true);
  });

  it('encode gateway ids so a field prefix never holds `|` or braces', () => {
    expect(presenceFieldPrefix('a|b{c}')).toBe('a%7Cb%7Bc%7D|');
    expect(presenceGatewayTopicsKey('a}b')).toBe('walcast:v1:presence:gateway:{a%7Db}:topics');
  });
});

describe('Redis Cluster forms', () => {
  it('put a table’s stream, its slot’s start, index and position channel on the topic’s slot', () => {
    for (const [schema, table] of awkward) {
      const topic = topicForTable(schema, table);
      const slot = hashSlot(topic);
      expect(hashSlot(historyKeyFor(topic))).toBe(slot);
      expect(hashSlot(historyStartKeyForSlot(slot))).toBe(slot);
      expect(hashSlot(historyLastKeyForSlot(slot))).toBe(slot);
      expect(hashSlot(historyTopicsKeyForSlot(slot))).toBe(slot);
      expect(hashSlot(positionChannelForSlot(slot))).toBe(slot);
      expect(slotOfPositionChannel(positionChannelForSlot(slot))).toBe(slot);
    }
    expect(slotOfPositionChannel(POSITION_CHANNEL)).toBeNull();
    expect(slotOfPositionChannel(`${POSITION_CHANNEL}:{zz-not-a-tag}`)).toBeNull();
    expect(slotOfPositionChannel(topicForTable('public', 'items'))).toBeNull();
  });

  it('map the gateways’ two patterns to fan-in channels, and nothing else', () => {
    for (const [schema] of awkward) {
      expect(fanInChannelForPattern(patternForSchema(schema))).toBe(fanInChannelForSchema(schema));
    }
    expect(fanInChannelForSchema('a')).not.toBe(fanInChannelForSchema('b'));
    expect(fanInChannelForPattern(patternForAll())).toBe(FAN_IN_ALL_CHANNEL);
    expect(fanInChannelForPattern('walcast:v1:table:public:us*')).toBeNull();
    expect(fanInChannelForPattern('walcast:v1:table:*:users')).toBeNull();
    expect(fanInChannelForPattern('other:*')).toBeNull();
  });

  it('put a channel’s presence keys and its gateway’s per-slot set on its broadcast topic’s slot', () => {
    for (const sub of ['room1', 'a:b*c?{d}|', 'é %']) {
      for (const isPrivate of [false, true]) {
        const slot = hashSlot(topicForBroadcast(sub, isPrivate));
        expect(hashSlot(presenceClusterStateKey(sub, isPrivate))).toBe(slot);
        expect(hashSlot(presenceClusterGatewayEntriesKey(sub, isPrivate, 'gw{1}'))).toBe(slot);
        expect(hashSlot(presenceClusterGatewayTopicsKey('gw{1}', slot))).toBe(slot);
      }
    }
    expect(hashSlot(PRESENCE_CLUSTER_LEASES_KEY)).toBe(hashSlot(PRESENCE_CLUSTER_SWEEPS_KEY));
  });
});
