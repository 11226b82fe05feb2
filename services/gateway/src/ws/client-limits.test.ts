import type { ClientLimits } from '../config';
import {
  checkBindings,
  checkChannels,
  checkSubscriptions,
  checkTopic,
  longestTopicChars,
} from './client-limits';

const limits: ClientLimits = {
  maxFrameDepth: 64,
  maxTopicBytes: 32,
  maxFilterBytes: 16,
  maxBindingsPerJoin: 3,
  maxChannelsPerSocket: 2,
  maxJoinsPerSecond: 4,
  maxBusSubscriptions: 10,
  maxBroadcastBytes: 256 * 1024,
  maxChannelBroadcastsPerSecond: 100,
  maxSocketBroadcastsPerSecond: 500,
};

describe('checkTopic', () => {
  it('holds a modern topic to MAX_TOPIC_LENGTH in UTF-8 bytes', () => {
    expect(checkTopic(`realtime:${'a'.repeat(23)}`, true, limits)).toBeNull();
    expect(checkTopic(`realtime:${'a'.repeat(24)}`, true, limits)?.limit).toBe('topic_bytes');
    // 12 three-byte characters are 36 bytes but only 12 UTF-16 units
    expect(checkTopic(`realtime:${'€'.repeat(8)}`, true, limits)?.limit).toBe('topic_bytes');
  });

  it('holds a legacy topic to MAX_TOPIC_LENGTH before its filter and MAX_FILTER_LENGTH after', () => {
    expect(checkTopic('realtime:public:users:name=eq.abcdefgh', false, limits)).toBeNull();
    expect(checkTopic('realtime:public:users:name=eq.abcdefghi', false, limits)?.limit).toBe('filter_bytes');
    expect(checkTopic(`realtime:public:${'u'.repeat(20)}:id=eq.1`, false, limits)?.limit).toBe('topic_bytes');
    // A modern join's topic is a name: its colons split nothing.
    expect(checkTopic('realtime:public:users:name=eq.abcdefgh', true, limits)?.limit).toBe('topic_bytes');
  });

  it('names the setting in the reason', () => {
    expect(checkTopic(`realtime:${'a'.repeat(40)}`, true, limits)?.reason).toBe(
      'TopicTooLong: the topic is longer than 32 bytes (MAX_TOPIC_LENGTH)',
    );
    expect(longestTopicChars(limits)).toBe(49);
  });
});

describe('checkBindings', () => {
  it('refuses more than MAX_BINDINGS_PER_JOIN', () => {
    expect(checkBindings([{}, {}, {}], limits)).toBeNull();
    expect(checkBindings([{}, {}, {}, {}], limits)?.reason).toBe(
      'TooManyBindings: at most 3 postgres_changes bindings per join (MAX_BINDINGS_PER_JOIN), got 4',
    );
  });

  it('refuses a binding larger than MAX_FILTER_LENGTH + 1 KiB as JSON, naming its index', () => {
    const big = { table: 't', pad: 'p'.repeat(1100) };
    expect(checkBindings([{ table: 't' }, big], limits)).toEqual({
      limit: 'binding_bytes',
      reason:
        'BindingTooLarge: postgres_changes binding 1 is larger than 1040 bytes as JSON (MAX_FILTER_LENGTH + 1024)',
    });
  });
});

describe('checkChannels and checkSubscriptions', () => {
  it('counts a rejoin of a joined topic as no new channel', () => {
    expect(checkChannels(1, false, limits)).toBeNull();
    expect(checkChannels(2, false, limits)?.limit).toBe('channels');
    expect(checkChannels(2, true, limits)).toBeNull();
  });

  it('refuses only a join that needs more subscriptions than are left', () => {
    expect(checkSubscriptions(10, 0, limits)).toBeNull();
    expect(checkSubscriptions(8, 2, limits)).toBeNull();
    expect(checkSubscriptions(8, 3, limits)?.limit).toBe('subscriptions');
  });
});
