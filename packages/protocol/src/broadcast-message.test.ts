import { BusMessageError } from './bus-message';
import { decodeBroadcastMessage, encodeBroadcastMessage } from './broadcast-message';
import { parseBroadcastTopic, topicForBroadcast } from './topics';

describe('broadcast envelope', () => {
  it('round-trips header and payload text (newlines in the payload included)', () => {
    const header = {
      v: 1 as const,
      src: 'gw-1',
      shape: 'user' as const,
      event: 'e\n',
      enc: 'json' as const,
      meta: { id: 'x' },
      ts: 5,
    };
    const text = encodeBroadcastMessage(header, '{"a":\n1}');
    expect(decodeBroadcastMessage(text)).toEqual({ header, payloadText: '{"a":\n1}' });
  });

  it('round-trips a presence diff', () => {
    const header = {
      v: 1 as const,
      src: 'gw-1',
      shape: 'presence' as const,
      event: 'presence_diff',
      enc: 'json' as const,
      ts: 7,
    };
    const diff = '{"joins":{"k":{"metas":[{"phx_ref":"r1"}]}},"leaves":{}}';
    expect(decodeBroadcastMessage(encodeBroadcastMessage(header, diff))).toEqual({
      header,
      payloadText: diff,
    });
  });

  it.each([
    ['no header line', '{}'],
    ['a bad header', 'nope\n{}'],
    ['another version', '{"v":2,"src":"a","shape":"map","event":"","enc":"json"}\n{}'],
    ['a binary map', '{"v":1,"src":"a","shape":"map","event":"","enc":"binary"}\nAA=='],
    [
      'a binary presence diff',
      '{"v":1,"src":"a","shape":"presence","event":"presence_diff","enc":"binary"}\nAA==',
    ],
    ['an unknown shape', '{"v":1,"src":"a","shape":"other","event":"","enc":"json"}\n{}'],
    ['meta that is not an object', '{"v":1,"src":"a","shape":"user","event":"","enc":"json","meta":[]}\n{}'],
  ])('refuses %s', (_what, text) => {
    expect(() => decodeBroadcastMessage(text)).toThrow(BusMessageError);
  });
});

describe('broadcast topics', () => {
  it('keep public and private apart and survive any subtopic', () => {
    for (const sub of ['room1', 'a:b*c?[d]', 'é %']) {
      expect(topicForBroadcast(sub, true)).not.toBe(topicForBroadcast(sub, false));
      expect(parseBroadcastTopic(topicForBroadcast(sub, true))).toEqual({ subtopic: sub, isPrivate: true });
      expect(parseBroadcastTopic(topicForBroadcast(sub, false))).toEqual({ subtopic: sub, isPrivate: false });
    }
    expect(topicForBroadcast('a*', false)).not.toContain('*');
    expect(parseBroadcastTopic('walcast:v1:table:public:users')).toBeNull();
  });
});
