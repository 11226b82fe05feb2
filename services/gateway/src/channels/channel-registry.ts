/**
 * Which delivery groups exist, which bus subscriptions feed them, and the fan-out of bus messages.
 *
 * Lifecycle: a group is created by its first member and removed with its last, releasing its bus
 * subscription (reference-counted in BusSubscriptions). Sockets never subscribe to Redis themselves.
 *
 * Invariant (I4): each bus message is decoded once and parsed at most once, then each group
 * matches and encodes it once per codec; uWS topic publishing does the per-socket work in C++.
 */
import {
  PhoenixEvents,
  clip,
  errorReason,
  parsePosition,
  subtopicOf,
  patternForAll,
  patternForSchema,
  topicForTable,
  type LegacyTarget,
} from '@walcast/protocol';
import { busKeyId, type BusKey, type History } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { LogThrottle } from '@walcast/logger';
import type { RowFilter } from '../filters/row-filter';
import type { Identity } from '../rls/identity';
import type { RowAuthorizer } from '../rls/row-authorizer';
import { GroupRowAccess } from './group-row-access';
import type { GatewayMetrics } from '../metrics';
import type { BusEntry, BusSubscriptions } from './bus-subscriptions';
import { CatchUp, MAX_HELD } from './catch-up';
import { incomingChange, type DeliveryGroup, type Fanout, type IncomingChange } from './delivery-group';
import { EqualityIndex } from './equality-index';
import { LegacyGroup } from './legacy-group';
import { OwnerIndex } from './owner-index';
import type { Binding } from './postgres-changes-binding';
import { PostgresChangesGroup } from './postgres-changes-group';

export function busKeyForLegacy(target: LegacyTarget): BusKey {
  switch (target.kind) {
    case 'all':
      return { pattern: patternForAll() };
    case 'schema':
      return { pattern: patternForSchema(target.schema) };
    default:
      return { topic: topicForTable(target.schema, target.table) };
  }
}

/** The delivery groups one bus subscription feeds, and the same groups indexed for dispatch. */
export interface Feed {
  readonly groups: Set<DeliveryGroup>;
  readonly index: EqualityIndex;
  /** Groups of row-authorized identities without an equality filter (row authorization only). */
  readonly owners: OwnerIndex;
}

/** What a subscription that feeds no group dispatches to. */
const NO_FEED: Feed = { groups: new Set(), index: new EqualityIndex(), owners: new OwnerIndex() };

export class ChannelRegistry {
  private readonly groups = new Map<string, DeliveryGroup>();
  private readonly feeds = new Map<BusEntry, Feed>();
  private readonly throttle = new LogThrottle({ max: 5, windowMs: 60_000 });
  private readonly gapThrottle = new LogThrottle({ max: 10, windowMs: 60_000 });
  private lostListener: (groups: DeliveryGroup[], reason: 'gap' | 'redis') => void = () => undefined;

  private readonly rowAuthThrottle = new LogThrottle({ max: 5, windowMs: 60_000 });
  private readonly catchUp: CatchUp;

  constructor(
    private readonly subscriptions: BusSubscriptions,
    /** How change frames leave (uWS topic publishing, direct sends). */
    readonly fanout: Fanout,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
    /** ROW_AUTHORIZATION=postgres: judges what each identity may see; else null. */
    private readonly rowAuthorizer: RowAuthorizer | null = null,
    /** The change history (HISTORY): catch-up after a loss, replay for `since`; else null. */
    readonly history: History | null = null,
  ) {
    this.catchUp = new CatchUp(
      history,
      {
        process: (entry, topic, message, fromHistory) => this.process(entry, topic, message, fromHistory),
        lost: (entry, reason) => this.lostListener([...this.feedOf(entry).groups], reason),
        entries: () => this.subscriptions.all(),
        holds: (entry) => this.subscriptions.get(entry.id) === entry,
      },
      {
        finished: (result) => this.metrics.catchUps.inc({ result }),
        read: (count) => this.metrics.catchUpChanges.inc(count),
      },
      log,
    );
  }

  get busSubscriptionCount(): number {
    return this.subscriptions.size;
  }

  /** How many Redis subscriptions a group fed by `keys` would add to those held. */
  subscriptionsNeeded(keys: readonly BusKey[]): number {
    return this.subscriptions.missing(keys);
  }

  /**
   * Who to tell when groups may have missed changes: a gap in a topic's sequence, or Redis coming
   * back after an outage (pub/sub keeps nothing for a disconnected subscriber).
   */
  onChangesLost(listener: (groups: DeliveryGroup[], reason: 'gap' | 'redis') => void): void {
    this.lostListener = listener;
  }

  /** Redis is lost: with a history, subscriptions hold what arrives until they caught up. */
  busLost(): void {
    this.catchUp.busLost();
  }

  /**
   * Redis is back after an outage: subscriptions catch up from the history; without one, every
   * group may have missed changes meanwhile.
   */
  busReconnected(): void {
    for (const entry of this.subscriptions.all()) entry.resetSequences();
    if (this.catchUp.enabled) this.catchUp.busBack();
    else this.lostListener([...this.groups.values()], 'redis');
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /**
   * The group of a legacy topic, created (and its bus subscription acquired) on first use. With an
   * identity (row authorization), channels of the same topic read as different identities are in
   * different groups.
   */
  legacyGroup(
    topic: string,
    target: LegacyTarget,
    filter: RowFilter,
    identity: Identity | null = null,
  ): DeliveryGroup {
    const identityKey = identity?.key ?? '';
    const key = identityKey === '' ? `legacy|${topic}` : `legacy|${topic}|${identityKey}`;
    const existing = this.groups.get(key);
    if (existing) return existing;
    const entry = this.subscriptions.acquire(busKeyForLegacy(target));
    const group = new LegacyGroup(topic, entry, filter, identityKey);
    this.authorize(group, identity);
    this.attach(entry, group);
    this.groups.set(key, group);
    return group;
  }

  /**
   * The group of a modern channel: sockets on the same topic with the same bindings (hence the same
   * ids), read as the same identity, receive identical frames.
   */
  postgresChangesGroup(
    topic: string,
    bindings: readonly Binding[],
    identity: Identity | null = null,
  ): DeliveryGroup {
    const ids = bindings.map((b) => b.id).join(',');
    const key = identity ? `pc|${topic}|${ids}|${identity.key}` : `pc|${topic}|${ids}`;
    return this.groupFor(
      key,
      bindings.map((b) => b.busKey),
      (entries) => {
        const byId = new Map(entries.map((e) => [e.id, e]));
        // `since` is the joining socket's, not the group's (see replayCopy).
        const bound = bindings.map((b) => ({ ...b, since: null, entry: byId.get(busKeyId(b.busKey))! }));
        const group = new PostgresChangesGroup(key, topic, entries, bound);
        this.authorize(group, identity);
        return group;
      },
    );
  }

  /** Gives a new group its row authorization (when the gateway has it and the group an identity). */
  private authorize(group: DeliveryGroup, identity: Identity | null): void {
    const { rowAuthorizer } = this;
    if (!identity || !rowAuthorizer) return;
    group.rowAccess = new GroupRowAccess({
      authorizer: rowAuthorizer,
      identity,
      onUnavailable: (err, notify) => {
        this.metrics.rowAuthUnavailable.inc();
        if (!notify) return;
        this.rowAuthThrottle.warn(
          this.log,
          { err, topic: clip(group.topic, 100), code: 'RowAuthorizationUnavailable' },
          'changes could not be authorized and were not sent',
        );
        group.pushToMembers(this.fanout, PhoenixEvents.system, {
          channel: subtopicOf(group.topic) ?? group.topic,
          extension: 'postgres_changes',
          status: 'error',
          message: errorReason(
            'RowAuthorizationUnavailable',
            'changes could not be checked against row-level security and were not sent; delivery resumes by itself',
          ),
        });
      },
    });
  }

  /** Registers a group built by `create` from the bus entries of `keys` (acquired here), unless one with `key` exists. */
  groupFor(
    key: string,
    keys: readonly BusKey[],
    create: (entries: BusEntry[]) => DeliveryGroup,
  ): DeliveryGroup {
    const existing = this.groups.get(key);
    if (existing) return existing;
    const unique = new Map(keys.map((k) => [busKeyId(k), k]));
    const entries = [...unique.values()].map((k) => this.subscriptions.acquire(k));
    const group = create(entries);
    for (const entry of entries) this.attach(entry, group);
    this.groups.set(key, group);
    return group;
  }

  /**
   * A copy of `group` to replay the history through for one resuming socket (never registered:
   * it holds no subscription), read as the same identity.
   */
  replayGroupFor(group: DeliveryGroup, sinceById: ReadonlyMap<number, string>): DeliveryGroup {
    const copy = group.replayCopy(sinceById);
    this.authorize(copy, group.rowAccess?.identity ?? null);
    return copy;
  }

  /** Drops a group once it has no members left. */
  releaseIfEmpty(group: DeliveryGroup): void {
    if (group.size > 0 || this.groups.get(group.key) !== group) return;
    this.groups.delete(group.key);
    for (const entry of group.busEntries) {
      this.detach(entry, group);
      this.subscriptions.release(entry);
    }
  }

  /** The groups `entry` feeds (the bench replaces `index` to measure dispatch without it). */
  feedOf(entry: BusEntry): Feed {
    return this.feeds.get(entry) ?? NO_FEED;
  }

  private attach(entry: BusEntry, group: DeliveryGroup): void {
    let feed = this.feeds.get(entry);
    if (!feed) {
      feed = { groups: new Set(), index: new EqualityIndex(), owners: new OwnerIndex() };
      this.feeds.set(entry, feed);
    }
    feed.groups.add(group);
    const equality = group.equalityFor(entry);
    if (equality !== null || !feed.owners.add(group)) feed.index.add(group, equality);
  }

  private detach(entry: BusEntry, group: DeliveryGroup): void {
    const feed = this.feeds.get(entry);
    if (!feed) return;
    feed.groups.delete(group);
    if (!feed.owners.delete(group)) feed.index.delete(group);
    if (feed.groups.size === 0) this.feeds.delete(entry);
  }

  /** The bus message handler. Never throws: a bad message is counted and logged (throttled). */
  dispatch(via: BusKey, topic: string, message: string): void {
    this.metrics.changesIn.inc();
    const entry = this.subscriptions.get(busKeyId(via));
    if (!entry) return; // unsubscribed meanwhile
    entry.markLive();
    if (entry.held !== null) {
      // Catching up from the history: passed on once it has.
      if (entry.held.length < MAX_HELD) entry.held.push({ topic, message });
      else this.giveUpHolding(entry);
      return;
    }
    this.process(entry, topic, message, false);
  }

  /**
   * Resolves once every change of `group`'s subscriptions up to `position` has been passed on live
   * (or after `timeoutMs`): see CatchUp.whenPassed.
   */
  whenPassed(position: string, group: DeliveryGroup, timeoutMs: number): Promise<void> {
    return this.catchUp.whenPassed(position, group.busEntries, timeoutMs);
  }

  /** The last position heard on the bus (null before any, or without a history). */
  get lastPosition(): string | null {
    return this.catchUp.enabled ? this.catchUp.lastPosition : null;
  }

  /**
   * A position the ingester announced (POSITION_CHANNEL; on a Redis Cluster, the position channel of
   * hash slot `slot`): where catch-up starts for unheard tables.
   */
  heard(message: string, slot: number | null = null): void {
    if (parsePosition(message)) this.catchUp.heard(message, slot);
  }

  /**
   * Passes one bus message on to the groups `entry` feeds: decoded once, duplicates (by position)
   * dropped, a gap in its sequence caught up from the history (or, without, reported lost).
   */
  private process(entry: BusEntry, topic: string, message: string, fromHistory: boolean): void {
    let change: IncomingChange;
    try {
      change = incomingChange(topic, message);
    } catch (err) {
      this.metrics.badBusMessages.inc();
      this.throttle.warn(
        this.log,
        { err, topic: entry.id, code: 'MalformedBusMessage' },
        'dropped a bus message that cannot be decoded',
      );
      return;
    }
    const { header } = change;
    if (fromHistory) entry.noteSequence(topic, header.src, header.seq);
    else {
      const missing = entry.checkSequence(topic, header.src, header.seq);
      if (missing > 0) {
        this.countGap(topic, header.src, header.seq, missing);
        if (this.catchUp.gap(entry, topic, message)) return;
        this.lostListener([...this.feedOf(entry).groups], 'gap');
      }
    }
    if (!entry.accept(topic, header.pos)) {
      this.metrics.duplicatesDropped.inc();
      return;
    }
    if (header.pos !== undefined) this.catchUp.heard(header.pos, entry.slot);
    this.deliverToFeed(entry, change);
    if (header.ts !== undefined && !fromHistory)
      this.metrics.publishToSend.observe(Math.max(0, Date.now() - header.ts) / 1000);
  }

  /** Hands a decoded change to every group of `entry` it may concern. */
  private deliverToFeed(entry: BusEntry, change: IncomingChange): void {
    const deliver = (group: DeliveryGroup): void => {
      try {
        group.deliver(change, this.fanout, entry);
      } catch (err) {
        this.metrics.badBusMessages.inc();
        this.throttle.warn(
          this.log,
          { err, topic: entry.id, code: 'MalformedBusMessage' },
          'could not deliver a change',
        );
      }
    };
    const feed = this.feedOf(entry);
    let candidates: Iterable<DeliveryGroup>;
    try {
      candidates = feed.index.candidates(change);
    } catch (err) {
      // The event could not be parsed for the index: offer it to every group (each fails alone).
      this.throttle.warn(
        this.log,
        { err, topic: entry.id, code: 'MalformedBusMessage' },
        'could not index a change',
      );
      candidates = feed.groups;
    }
    for (const group of candidates) deliver(group);
    const authorizer = this.rowAuthorizer;
    if (authorizer && feed.owners.size > 0 && candidates !== feed.groups) {
      feed.owners.visit((role) => authorizer.ownerValue(change, role), deliver);
    }
  }

  /** Too much arrived while `entry` caught up: its channels are ended (they rejoin). */
  private giveUpHolding(entry: BusEntry): void {
    entry.held = null;
    this.log.warn(
      { topic: entry.id, code: 'ChangesMissed' },
      'too many changes arrived while catching up from the history; its channels are ended',
    );
    this.lostListener([...this.feedOf(entry).groups], 'gap');
  }

  /** Redis pub/sub lost changes on their way here (a Redis or network hiccup): counted and logged. */
  private countGap(topic: string, src: string, seq: number, missing: number): void {
    this.metrics.streamGaps.inc();
    this.metrics.missedChanges.inc(missing);
    this.gapThrottle.warn(
      this.log,
      { topic, src, seq, missing, code: 'StreamGap' },
      'changes missing from the stream',
    );
  }
}
