/**
 * Removes the presences of gateways whose lease lapsed, and of this gateway on a clean stop.
 *
 * A sweep claims lapsed gateways atomically (CLAIM_LUA moves each from the leases to the sweeps set,
 * so exactly one survivor gets it), then sweeps each claimed gateway's channels, one script per
 * channel: the script deletes that gateway's entries and publishes their leaves in one step. A
 * channel's script does nothing when the gateway holds a lease again (it came back and re-asserts its
 * own entries), which ends that gateway's sweep. A survivor that dies mid-sweep leaves its claim in
 * the sweeps set, where it lapses and another survivor takes it over; re-sweeping a channel is
 * harmless, since a swept channel holds nothing of that gateway.
 *
 * Reads of a gateway's channel set are bounded (SRANDMEMBER of {@link TOPICS_PER_BATCH}), so no
 * reply is large whatever that gateway held.
 *
 * On a Redis Cluster (presence-keyspace.ts) a gateway has one channel set per hash slot, listed in
 * its slot set, and a per-channel script cannot see the lease: the sweeper reads the lease itself
 * before each batch, so a gateway that came back stops the sweep within a batch. A channel swept
 * just after its gateway came back is put back by that gateway (presence-store.ts re-asserts once
 * more when no sweep of it is left).
 */
import type { Logger } from '@walcast/logger';
import { parseBroadcastTopic, presenceFieldPrefix } from '@walcast/protocol';
import type { PresenceKeyspace } from './presence-keyspace';
import { type PresenceRedis, presenceEnvelopePrefix } from './presence-scripts';

/** Channels swept concurrently (one pipelined write of scripts). */
export const TOPICS_PER_BATCH = 200;
/** Most lapsed gateways one sweep claims. */
const GATEWAYS_PER_CLAIM = 20;

/** The result of sweeping one gateway. */
export interface GatewaySweep {
  topics: number;
  leaves: number;
  /** The gateway held a lease again before the sweep ended: it re-asserts its own entries. */
  isBack: boolean;
}

export class PresenceSweeper {
  constructor(
    private readonly redis: PresenceRedis,
    private readonly keyspace: PresenceKeyspace,
    /** This gateway: the `src` of the leave diffs it publishes. */
    private readonly gatewayId: string,
    private readonly leaseMs: number,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Claims the gateways whose lease lapsed (never this one) and sweeps each; returns their sweeps. */
  async sweepLapsed(): Promise<Map<string, GatewaySweep>> {
    const claimed = await this.redis.presenceClaim(
      this.keyspace.leasesKey,
      this.keyspace.sweepsKey,
      String(this.leaseMs),
      String(GATEWAYS_PER_CLAIM),
    );
    const swept = new Map<string, GatewaySweep>();
    for (const gatewayId of claimed) {
      if (gatewayId === this.gatewayId) {
        // We lapsed (a stalled event loop): our renewal re-adds the lease and re-asserts; nothing to sweep.
        await this.redis.zrem(this.keyspace.sweepsKey, gatewayId);
        continue;
      }
      const result = await this.sweepGateway(gatewayId, false);
      swept.set(gatewayId, result);
      this.log.warn(
        { code: 'PresenceLeaseLapsed', gateway: gatewayId, ...result },
        'a gateway stopped renewing its presence lease; its presences were removed',
      );
    }
    return swept;
  }

  /**
   * Sweeps every channel of `gatewayId` until none is left or it holds a lease again. `force`
   * sweeps despite a lease (this gateway's own clean stop). Ends the claim in the sweeps set.
   */
  async sweepGateway(gatewayId: string, force: boolean): Promise<GatewaySweep> {
    const result: GatewaySweep = { topics: 0, leaves: 0, isBack: false };
    const slotsKey = this.keyspace.slotsKey(gatewayId);
    const slots = slotsKey ? (await this.redis.smembers(slotsKey)).map(Number) : [];
    for (const topicsKey of this.keyspace.gatewayTopicsKeys(gatewayId, slots)) {
      while (!result.isBack) {
        if (
          !force &&
          this.keyspace.isCluster &&
          (await this.redis.zscore(this.keyspace.leasesKey, gatewayId))
        ) {
          result.isBack = true;
          break;
        }
        const members = await this.redis.srandmember(topicsKey, TOPICS_PER_BATCH);
        if (members.length === 0) break;
        const counts = await Promise.all(members.map((m) => this.sweepTopic(gatewayId, topicsKey, m, force)));
        for (const n of counts) {
          if (n < 0) result.isBack = true;
          else result.leaves += n;
        }
        result.topics += members.length;
      }
    }
    if (slotsKey && !result.isBack) await this.redis.del(slotsKey);
    await this.redis.zrem(this.keyspace.sweepsKey, gatewayId);
    return result;
  }

  private async sweepTopic(
    gatewayId: string,
    topicsKey: string,
    member: string,
    force: boolean,
  ): Promise<number> {
    const topic = parseBroadcastTopic(member);
    if (!topic) {
      // Not a name we write: drop it so the loop ends.
      await this.redis.srem(topicsKey, member);
      return 0;
    }
    const { channel, keys } = this.keyspace.channelKeys(topic.subtopic, topic.isPrivate, gatewayId);
    return this.redis.presenceSweep(
      ...keys,
      presenceFieldPrefix(gatewayId),
      member,
      channel,
      presenceEnvelopePrefix(this.gatewayId, this.now()),
      gatewayId,
      force ? '1' : '0',
    );
  }
}
