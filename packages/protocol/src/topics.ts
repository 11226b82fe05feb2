/**
 * Redis pub/sub channel names. This module is the only place that builds or parses them.
 *
 * Every change is published once, on its table's topic. A gateway subscribes to exactly the table
 * topics its clients need, and uses a pattern only for clients that asked for a whole schema or for
 * everything (`realtime:<schema>`, `realtime:*`). Identifiers may hold `:` or glob characters when
 * quoted in SQL, so each part is percent-encoded, including the glob specials `*?[]\`.
 *
 * In a Redis Cluster the same topics are shard channels (SPUBLISH/SSUBSCRIBE); since shard channels
 * have no patterns, each change is also published on its schema's and on the all-tables fan-in
 * channel, and the keys kept once per Redis are kept once per hash slot (forms at the end).
 */

import { hashSlot, slotTag } from './hash-slot';

const PREFIX = 'walcast:v1:table:';

/** PostgreSQL's longest identifier (NAMEDATALEN - 1): no schema or table has a longer name. */
export const MAX_IDENTIFIER_BYTES = 63;

/** Why `name` cannot name a PostgreSQL schema or table, or `null` if it can. */
export function identifierProblem(kind: 'schema' | 'table', name: string): string | null {
  return name.length > MAX_IDENTIFIER_BYTES || Buffer.byteLength(name, 'utf8') > MAX_IDENTIFIER_BYTES
    ? `${kind} name is longer than ${MAX_IDENTIFIER_BYTES} bytes, PostgreSQL's limit for identifiers`
    : null;
}

function encodePart(part: string): string {
  return encodeURIComponent(part).replace(
    /[*!'()~]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The topic that carries every change of `schema.table`. */
export function topicForTable(schema: string, table: string): string {
  return `${PREFIX}${encodePart(schema)}:${encodePart(table)}`;
}

/** A Redis glob pattern matching the topics of every table in `schema`. */
export function patternForSchema(schema: string): string {
  return `${PREFIX}${encodePart(schema)}:*`;
}

/** A Redis glob pattern matching every table topic. */
export function patternForAll(): string {
  return `${PREFIX}*`;
}

/** The inverse of {@link topicForTable}; `null` for a name this module did not build. */
export function parseTopic(topic: string): { schema: string; table: string } | null {
  if (!topic.startsWith(PREFIX)) return null;
  const rest = topic.slice(PREFIX.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(':', colon + 1) !== -1) return null;
  try {
    return {
      schema: decodeURIComponent(rest.slice(0, colon)),
      table: decodeURIComponent(rest.slice(colon + 1)),
    };
  } catch {
    // Malformed percent-encoding: not one of ours.
    return null;
  }
}

const BROADCAST_PREFIX = 'walcast:v1:broadcast:';

/**
 * The topic that carries the broadcasts of channel `realtime:<subtopic>`. Public and private
 * channels of the same name are separate namespaces and never see each other's messages.
 */
export function topicForBroadcast(subtopic: string, isPrivate: boolean): string {
  return `${BROADCAST_PREFIX}${isPrivate ? 'private' : 'public'}:${encodePart(subtopic)}`;
}

/** Whether `topic` is a broadcast topic (else a table topic). */
export function isBroadcastTopic(topic: string): boolean {
  return topic.startsWith(BROADCAST_PREFIX);
}

/** The inverse of {@link topicForBroadcast}; `null` for a name this module did not build. */
export function parseBroadcastTopic(topic: string): { subtopic: string; isPrivate: boolean } | null {
  if (!topic.startsWith(BROADCAST_PREFIX)) return null;
  const rest = topic.slice(BROADCAST_PREFIX.length);
  const colon = rest.indexOf(':');
  const space = rest.slice(0, colon);
  if (colon < 0 || (space !== 'public' && space !== 'private')) return null;
  try {
    return { subtopic: decodeURIComponent(rest.slice(colon + 1)), isPrivate: space === 'private' };
  } catch {
    return null;
  }
}

/*
 * Presence keys (Redis data, not pub/sub channels). A channel's presence diffs travel on its
 * broadcast topic (topicForBroadcast). The per-channel keys carry the hash tag
 * `{<public|private>:<subtopic>}` so that they share one Redis Cluster hash slot, which lets one
 * script change them together. Gateway ids are percent-encoded like subtopics, so they hold no `|`,
 * `{` or `}`.
 */
const PRESENCE_PREFIX = 'walcast:v1:presence:';

/** Sorted set of presence leases: member = gateway id, score = expiry in ms of Redis's clock. */
export const PRESENCE_LEASES_KEY = `${PRESENCE_PREFIX}leases`;

/** Sorted set of lapsed gateways being swept: member = gateway id, score = when the claim lapses. */
export const PRESENCE_SWEEPS_KEY = `${PRESENCE_PREFIX}sweeps`;

function presenceTag(subtopic: string, isPrivate: boolean): string {
  return `{${isPrivate ? 'private' : 'public'}:${encodePart(subtopic)}}`;
}

/** Hash of a channel's presences: field = {@link presenceFieldPrefix} + phx_ref, value = JSON entry. */
export function presenceStateKey(subtopic: string, isPrivate: boolean): string {
  return `${PRESENCE_PREFIX}${presenceTag(subtopic, isPrivate)}:state`;
}

/** Set of the phx_refs `gatewayId` holds in the channel's presence hash. */
export function presenceGatewayEntriesKey(subtopic: string, isPrivate: boolean, gatewayId: string): string {
  return `${PRESENCE_PREFIX}${presenceTag(subtopic, isPrivate)}:gateway:${encodePart(gatewayId)}`;
}

/** Set of the channels (as their broadcast topics) where `gatewayId` holds presences. */
export function presenceGatewayTopicsKey(gatewayId: string): string {
  return `${PRESENCE_PREFIX}gateway:{${encodePart(gatewayId)}}:topics`;
}

/** What a presence hash field of `gatewayId` starts with; the phx_ref follows. */
export function presenceFieldPrefix(gatewayId: string): string {
  return `${encodePart(gatewayId)}|`;
}

/**
 * The Redis stream holding the recent history of a table topic. The topic is its hash tag, so in a
 * Redis Cluster the stream lives on the shard of the topic's channel (topics never hold braces:
 * their parts are percent-encoded).
 */
export function historyKeyFor(topic: string): string {
  return `walcast:v1:history:{${topic}}`;
}

/** The inverse of {@link historyKeyFor}; `null` for a name it did not build. */
export function topicOfHistoryKey(key: string): string | null {
  const prefix = 'walcast:v1:history:{';
  return key.startsWith(prefix) && key.endsWith('}') ? key.slice(prefix.length, -1) : null;
}

/** The Redis set of every table topic that has a history stream (for schema and `*` catch-up). */
export const HISTORY_TOPICS_KEY = 'walcast:v1:history-topics';

/**
 * The first position the history of this Redis ever held: history covers nothing before it (Redis
 * started empty then, or history was just turned on). Set once, by the first history write.
 */
export const HISTORY_START_KEY = 'walcast:v1:history-start';

/**
 * The channel where the ingester announces, after each batch, the last position it published: a
 * gateway's last position heard is where its catch-up starts for tables it has heard nothing of.
 */
export const POSITION_CHANNEL = 'walcast:v1:position';

/*
 * Redis Cluster forms (REDIS_CLUSTER_NODES). Keys one script touches together must share a hash
 * slot, and a script may SPUBLISH only on shard channels of that slot. A table topic's history
 * stream is tagged with the topic itself (historyKeyFor), so it lives on the slot of the topic's
 * shard channel; what a single Redis keeps once (the history start, the topic index, the position
 * announcements) a cluster keeps once per hash slot, tagged with the slot's tag (hash-slot.ts).
 */

/** Cluster: the history start of one hash slot (HISTORY_START_KEY's meaning, for that slot's streams). */
export function historyStartKeyForSlot(slot: number): string {
  return `walcast:v1:history-start:{${slotTag(slot)}}`;
}

/**
 * Cluster: the last history position written to one hash slot (by the last batch that wrote
 * history there), so that after a failover the ingester can tell whether the promoted replica holds
 * everything the old master accepted.
 */
export function historyLastKeyForSlot(slot: number): string {
  return `walcast:v1:history-last:{${slotTag(slot)}}`;
}

/** Cluster: the set of table topics of one hash slot that have a history stream. */
export function historyTopicsKeyForSlot(slot: number): string {
  return `walcast:v1:history-topics:{${slotTag(slot)}}`;
}

/**
 * Cluster: the shard channel where the ingester announces, after each batch it wrote to one hash
 * slot, the batch's last position (POSITION_CHANNEL's meaning, for that slot's topics).
 */
export function positionChannelForSlot(slot: number): string {
  return `${POSITION_CHANNEL}:{${slotTag(slot)}}`;
}

/** The slot whose positions {@link positionChannelForSlot} announces on `channel`; null for any other name. */
export function slotOfPositionChannel(channel: string): number | null {
  if (!channel.startsWith(`${POSITION_CHANNEL}:{`) || !channel.endsWith('}')) return null;
  const slot = hashSlot(channel);
  return positionChannelForSlot(slot) === channel ? slot : null;
}

const FAN_IN_PREFIX = 'walcast:v1:fan-in:';

/**
 * Cluster: the shard channel that carries every change of a schema's tables, in publish order, for
 * schema-wide subscriptions (sharded pub/sub has no patterns). Each message is the table topic, a
 * newline, then the change's bus message.
 */
export function fanInChannelForSchema(schema: string): string {
  return `${FAN_IN_PREFIX}schema:${encodePart(schema)}`;
}

/** Cluster: the shard channel that carries every change of every table (for `realtime:*`). */
export const FAN_IN_ALL_CHANNEL = `${FAN_IN_PREFIX}all`;

/**
 * Cluster: the fan-in channel carrying what `pattern` matches, for the two patterns gateways use
 * ({@link patternForSchema}, {@link patternForAll}); null for any other pattern.
 */
export function fanInChannelForPattern(pattern: string): string | null {
  if (pattern === patternForAll()) return FAN_IN_ALL_CHANNEL;
  if (!pattern.startsWith(PREFIX) || !pattern.endsWith(':*')) return null;
  const schema = pattern.slice(PREFIX.length, -2);
  return schema !== '' && !/[:*]/.test(schema) ? `${FAN_IN_PREFIX}schema:${schema}` : null;
}

/**
 * Cluster presence keys. A channel's keys are tagged with its broadcast topic, so the script that
 * changes them also SPUBLISHes the diff on that topic's shard channel. A gateway's set of channels
 * is kept per hash slot (tagged with the slot's tag) with the channels' keys, and the slots where
 * it has one are listed in the gateway's slot set. Leases and sweeps share a tag (claimed together).
 */
export const PRESENCE_CLUSTER_LEASES_KEY = `${PRESENCE_PREFIX}{gateways}:leases`;

/** Cluster: lapsed gateways being swept (PRESENCE_SWEEPS_KEY's meaning). */
export const PRESENCE_CLUSTER_SWEEPS_KEY = `${PRESENCE_PREFIX}{gateways}:sweeps`;

/** Cluster: hash of a channel's presences (as {@link presenceStateKey}). */
export function presenceClusterStateKey(subtopic: string, isPrivate: boolean): string {
  return `${PRESENCE_PREFIX}{${topicForBroadcast(subtopic, isPrivate)}}:state`;
}

/** Cluster: set of the phx_refs `gatewayId` holds in the channel's presence hash. */
export function presenceClusterGatewayEntriesKey(
  subtopic: string,
  isPrivate: boolean,
  gatewayId: string,
): string {
  return `${PRESENCE_PREFIX}{${topicForBroadcast(subtopic, isPrivate)}}:gateway:${encodePart(gatewayId)}`;
}

/** Cluster: set of the channels (broadcast topics) of hash slot `slot` where `gatewayId` holds presences. */
export function presenceClusterGatewayTopicsKey(gatewayId: string, slot: number): string {
  return `${PRESENCE_PREFIX}{${slotTag(slot)}}:gateway:${encodePart(gatewayId)}:topics`;
}

/** Cluster: set of the hash slots (as decimal text) where `gatewayId` has a channel set. */
export function presenceClusterGatewaySlotsKey(gatewayId: string): string {
  return `${PRESENCE_PREFIX}gateway:{${encodePart(gatewayId)}}:slots`;
}
