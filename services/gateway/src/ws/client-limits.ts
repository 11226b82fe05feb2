/**
 * What one client may ask of the gateway (the `MAX_*` settings): checks that answer a request
 * over a limit with a refusal naming the limit, before any work proportional to the request is
 * done. Pure: no socket, no bus; the connection handler applies the refusals.
 *
 * Each check costs at most one pass over the request's text. Together they bound what a socket can
 * make the gateway hold: channels × bindings per channel, each with a bounded topic and filter.
 */
import { REALTIME_PREFIX, errorReason } from '@walcast/protocol';
import type { ClientLimits } from '../config';
import type { LimitName } from '../metrics';

/** A request refused for a limit: the limit (a metric label) and the reason the client is told. */
export interface Refusal {
  limit: LimitName;
  reason: string;
}

const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** A binding is echoed in the join reply: its JSON may hold its filter and this much more. */
export const BINDING_OVERHEAD_BYTES = 1024;

/**
 * The longest topic, in UTF-16 units, that could pass {@link checkTopic}: a frame whose topic is
 * longer is refused (and its topic clipped in the reply) without looking further.
 */
export function longestTopicChars(limits: ClientLimits): number {
  return limits.maxTopicBytes + 1 + limits.maxFilterBytes;
}

/**
 * A join's topic: the whole topic for a modern join; for a legacy one the part before its filter
 * (`realtime:<schema>:<table>`) and the filter separately.
 */
export function checkTopic(topic: string, modern: boolean, limits: ClientLimits): Refusal | null {
  const { maxTopicBytes, maxFilterBytes } = limits;
  let name = topic;
  let filter = '';
  if (!modern && topic.startsWith(REALTIME_PREFIX)) {
    const first = topic.indexOf(':', REALTIME_PREFIX.length);
    const second = first < 0 ? -1 : topic.indexOf(':', first + 1);
    if (second >= 0) {
      name = topic.slice(0, second);
      filter = topic.slice(second + 1);
    }
  }
  if (name.length > maxTopicBytes || utf8Bytes(name) > maxTopicBytes) {
    return {
      limit: 'topic_bytes',
      reason: errorReason(
        'TopicTooLong',
        `the topic is longer than ${maxTopicBytes} bytes (MAX_TOPIC_LENGTH)`,
      ),
    };
  }
  if (filter.length > maxFilterBytes || utf8Bytes(filter) > maxFilterBytes) {
    return {
      limit: 'filter_bytes',
      reason: errorReason(
        'TopicTooLong',
        `the topic's filter is longer than ${maxFilterBytes} bytes (MAX_FILTER_LENGTH)`,
      ),
    };
  }
  return null;
}

/** The `postgres_changes` list of a modern join: how many bindings, and how large each is. */
export function checkBindings(requested: readonly unknown[], limits: ClientLimits): Refusal | null {
  const { maxBindingsPerJoin, maxFilterBytes } = limits;
  if (requested.length > maxBindingsPerJoin) {
    return {
      limit: 'bindings',
      reason: errorReason(
        'TooManyBindings',
        `at most ${maxBindingsPerJoin} postgres_changes bindings per join (MAX_BINDINGS_PER_JOIN), got ${requested.length}`,
      ),
    };
  }
  const maxBytes = maxFilterBytes + BINDING_OVERHEAD_BYTES;
  for (let i = 0; i < requested.length; i++) {
    const text = JSON.stringify(requested[i]) ?? '';
    if (text.length > maxBytes || utf8Bytes(text) > maxBytes) {
      return {
        limit: 'binding_bytes',
        reason: errorReason(
          'BindingTooLarge',
          `postgres_changes binding ${i} is larger than ${maxBytes} bytes as JSON (MAX_FILTER_LENGTH + ${BINDING_OVERHEAD_BYTES})`,
        ),
      };
    }
  }
  return null;
}

/** One more channel on a socket that has `joined` (a rejoin of a joined topic replaces it). */
export function checkChannels(joined: number, isRejoin: boolean, limits: ClientLimits): Refusal | null {
  if (isRejoin || joined < limits.maxChannelsPerSocket) return null;
  return {
    limit: 'channels',
    reason: errorReason(
      'ChannelRateLimitReached',
      `Too many channels: at most ${limits.maxChannelsPerSocket} per socket (MAX_CHANNELS_PER_SOCKET)`,
    ),
  };
}

/** The gateway would hold `needed` more Redis subscriptions than it does (`held`). */
export function checkSubscriptions(held: number, needed: number, limits: ClientLimits): Refusal | null {
  if (needed === 0 || held + needed <= limits.maxBusSubscriptions) return null;
  return {
    limit: 'subscriptions',
    reason: errorReason(
      'SubscriptionLimitReached',
      `this gateway holds its maximum of ${limits.maxBusSubscriptions} Redis subscriptions (MAX_BUS_SUBSCRIPTIONS); retry later`,
    ),
  };
}

export const joinRateRefusal = (limits: ClientLimits): Refusal => ({
  limit: 'join_rate',
  reason: errorReason(
    'ClientJoinRateLimitReached',
    `Too many joins per second: at most ${limits.maxJoinsPerSecond} (MAX_JOINS_PER_SECOND)`,
  ),
});
