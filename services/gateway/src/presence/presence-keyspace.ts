/**
 * Where presence lives in Redis: the key names of @walcast/protocol's topics.ts, chosen for one
 * Redis or for a Redis Cluster.
 *
 * On one Redis every per-channel script touches four keys: the channel's presence hash, this
 * gateway's phx_ref set there, the gateway's channel set and the lease set (so a track notices at
 * once that the gateway's lease is gone), and diffs are PUBLISHed.
 *
 * On a cluster all keys of one script call must share a hash slot, and a script may only SPUBLISH
 * on a shard channel of that slot: the channel's keys are tagged with its broadcast topic, the
 * gateway's channel set is kept per hash slot (its slots listed in a set of their own, for sweeps),
 * the lease set is left out of per-channel scripts (a lapsed lease is noticed by the next renewal
 * instead of the next track), and diffs are SPUBLISHed.
 */
import {
  hashSlot,
  PRESENCE_CLUSTER_LEASES_KEY,
  PRESENCE_CLUSTER_SWEEPS_KEY,
  PRESENCE_LEASES_KEY,
  PRESENCE_SWEEPS_KEY,
  presenceClusterGatewayEntriesKey,
  presenceClusterGatewaySlotsKey,
  presenceClusterGatewayTopicsKey,
  presenceClusterStateKey,
  presenceGatewayEntriesKey,
  presenceGatewayTopicsKey,
  presenceStateKey,
  topicForBroadcast,
} from '@walcast/protocol';

/** Where one channel's presence lives, for one gateway: the keys of a per-channel script. */
export interface ChannelPresenceKeys {
  /** The channel's broadcast topic: where diffs are published, and its name in a gateway's set. */
  channel: string;
  /** State hash, the gateway's phx_ref set, the gateway's channel set, and (one Redis) the leases. */
  keys: string[];
  /** The hash slot of the channel (a cluster keeps the gateway's channel set per slot). */
  slot: number;
}

export interface PresenceKeyspace {
  /** A Redis Cluster: sharded pub/sub, per-slot channel sets, no lease key in per-channel scripts. */
  readonly isCluster: boolean;
  readonly leasesKey: string;
  readonly sweepsKey: string;
  /** Keys per per-channel script call (3 on a cluster, 4 on one Redis). */
  readonly channelKeyCount: number;
  stateKey(subtopic: string, isPrivate: boolean): string;
  channelKeys(subtopic: string, isPrivate: boolean, gatewayId: string): ChannelPresenceKeys;
  /**
   * The keys of a gateway's channel sets: one on one Redis; on a cluster one per slot in
   * `slots` (read from {@link slotsKey}).
   */
  gatewayTopicsKeys(gatewayId: string, slots: readonly number[]): string[];
  /** Cluster: the set of slots where a gateway has a channel set; null on one Redis. */
  slotsKey(gatewayId: string): string | null;
}

export const SINGLE_REDIS_PRESENCE: PresenceKeyspace = {
  isCluster: false,
  leasesKey: PRESENCE_LEASES_KEY,
  sweepsKey: PRESENCE_SWEEPS_KEY,
  channelKeyCount: 4,
  stateKey: presenceStateKey,
  channelKeys: (subtopic, isPrivate, gatewayId) => {
    const channel = topicForBroadcast(subtopic, isPrivate);
    return {
      channel,
      keys: [
        presenceStateKey(subtopic, isPrivate),
        presenceGatewayEntriesKey(subtopic, isPrivate, gatewayId),
        presenceGatewayTopicsKey(gatewayId),
        PRESENCE_LEASES_KEY,
      ],
      slot: hashSlot(channel),
    };
  },
  gatewayTopicsKeys: (gatewayId) => [presenceGatewayTopicsKey(gatewayId)],
  slotsKey: () => null,
};

export const CLUSTER_PRESENCE: PresenceKeyspace = {
  isCluster: true,
  leasesKey: PRESENCE_CLUSTER_LEASES_KEY,
  sweepsKey: PRESENCE_CLUSTER_SWEEPS_KEY,
  channelKeyCount: 3,
  stateKey: presenceClusterStateKey,
  channelKeys: (subtopic, isPrivate, gatewayId) => {
    const channel = topicForBroadcast(subtopic, isPrivate);
    const slot = hashSlot(channel);
    return {
      channel,
      keys: [
        presenceClusterStateKey(subtopic, isPrivate),
        presenceClusterGatewayEntriesKey(subtopic, isPrivate, gatewayId),
        presenceClusterGatewayTopicsKey(gatewayId, slot),
      ],
      slot,
    };
  },
  gatewayTopicsKeys: (gatewayId, slots) =>
    slots.map((slot) => presenceClusterGatewayTopicsKey(gatewayId, slot)),
  slotsKey: presenceClusterGatewaySlotsKey,
};
