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
 */
import type { Logger } from '@walcast/logger';
import {
  parseBroadcastTopic,
  PRESENCE_LEASES_KEY,
  PRESENCE_SWEEPS_KEY,
  presenceFieldPrefix,
  presenceGatewayTopicsKey,
} from '@walcast/protocol';
import { channelPresenceKeys, type PresenceRedis, presenceEnvelopePrefix } from './presence-scripts';

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
    /** This gateway: the `src` of the leave diffs it publishes. */
    private readonly gatewayId: string,
    private readonly leaseMs: number,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /** Claims the gateways whose lease lapsed (never this one) and sweeps each; returns their sweeps. */
  async sweepLapsed(): Promise<Map<string, GatewaySweep>> {
    const claimed = await this.redis.presenceClaim(
      PRESENCE_LEASES_KEY,
      PRESENCE_SWEEPS_KEY,
      String(this.leaseMs),
      String(GATEWAYS_PER_CLAIM),
    );
    const swept = new Map<string, GatewaySweep>();
    for (const gatewayId of claimed) {
      if (gatewayId === this.gatewayId) {
        // We lapsed (a stalled event loop): our renewal re-adds the lease and re-asserts; nothing to sweep.
        await this.redis.zrem(PRESENCE_SWEEPS_KEY, gatewayId);
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
    const topicsKey = presenceGatewayTopicsKey(gatewayId);
    const result: GatewaySweep = { topics: 0, leaves: 0, isBack: false };
    while (!result.isBack) {
      const members = await this.redis.srandmember(topicsKey, TOPICS_PER_BATCH);
      if (members.length === 0) break;
      const counts = await Promise.all(members.map((m) => this.sweepTopic(gatewayId, m, force)));
      for (const n of counts) {
        if (n < 0) result.isBack = true;
        else result.leaves += n;
      }
      result.topics += members.length;
    }
    await this.redis.zrem(PRESENCE_SWEEPS_KEY, gatewayId);
    return result;
  }

  private async sweepTopic(gatewayId: string, member: string, force: boolean): Promise<number> {
    const topic = parseBroadcastTopic(member);
    if (!topic) {
      // Not a name we write: drop it so the loop ends.
      await this.redis.srem(presenceGatewayTopicsKey(gatewayId), member);
      return 0;
    }
    const { channel, keys } = channelPresenceKeys(topic.subtopic, topic.isPrivate, gatewayId);
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
