/**
 * A join without `config` (realtime-js 1.x, supabase-js 1.x, any legacy join): the topic names what
 * to deliver (`realtime:*`, a schema, a table, a table with a filter), and the join is answered
 * `ok` only once the channel's bus subscription is live, so a row committed after the reply is
 * delivered (docs/protocol.md L2).
 */
import {
  TopicError,
  errorReason,
  formatPosition,
  parsePosition,
  parseLegacySubtopic,
  type LegacyTarget,
  type PhoenixMessage,
} from '@walcast/protocol';
import type { DeliveryGroup } from '../channels/delivery-group';
import { busKeyForLegacy, type ChannelRegistry } from '../channels/channel-registry';
import { FilterError, parseFilter } from '../filters/filter-parser';
import { RowFilter } from '../filters/row-filter';
import type { GatewayMetrics } from '../metrics';
import type { Identity } from '../rls/identity';
import type { JoinTarget } from '../rls/join-checks';
import type { WebSocket } from '../uws';
import type { ClientReplies } from './client-replies';
import { reply } from './frames';
import type { JoinSupport } from './join-support';
import type { Memberships } from './memberships';
import type { SocketData } from './socket-data';

export interface JoinKindOptions {
  registry: ChannelRegistry;
  replies: ClientReplies;
  memberships: Memberships;
  metrics: GatewayMetrics;
  support: JoinSupport;
}

export class LegacyJoin {
  constructor(private readonly opts: JoinKindOptions) {}

  /** Without `config`: the topic names what to deliver; answered `ok` once the subscription is live. */
  join(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    identity: Identity | null,
  ): Promise<void> | undefined {
    let filter: RowFilter;
    let target: LegacyTarget;
    try {
      target = parseLegacySubtopic(subtopic);
      filter = new RowFilter(target.kind === 'table' ? parseFilter(target.filter) : []);
    } catch (err) {
      if (err instanceof TopicError) {
        this.opts.replies.joinError(
          ws,
          msg,
          errorReason(subtopic === '' ? 'TopicNameRequired' : 'InvalidTopic', err.message),
        );
        return;
      }
      if (err instanceof FilterError) {
        this.opts.replies.joinError(ws, msg, errorReason('InvalidFilter', `${err.message}: ${err.detail}`));
        return;
      }
      throw err;
    }
    const payload = msg.payload as Record<string, unknown> | null;
    const sinceText = payload !== null && typeof payload === 'object' ? payload.since : undefined;
    let since: string | null = null;
    if (sinceText !== undefined && sinceText !== null) {
      const position = parsePosition(sinceText);
      if (!position) {
        this.opts.replies.joinError(
          ws,
          msg,
          errorReason(
            'InvalidPosition',
            '`since` must be a position as received in a change (like 00000000016B3748-00000000)',
          ),
        );
        return;
      }
      since = formatPosition(position.lsn, position.index);
    }
    if (this.opts.support.refusedForSubscriptions(ws, msg, [busKeyForLegacy(target)])) return;
    const subscribe = (): void => {
      const rebuild = (as: Identity | null): DeliveryGroup =>
        this.opts.registry.legacyGroup(msg.topic, target, filter, as);
      this.opts.memberships.attach(
        ws,
        msg,
        rebuild(identity),
        false,
        rebuild,
        () => {
          this.opts.metrics.joins.inc({ result: 'ok' });
          reply(ws, msg, 'ok', {});
          this.opts.replies.pushSubscribed(
            ws,
            msg,
            subtopic,
            since === null ? this.opts.registry.lastPosition : null,
          );
        },
        null,
        // A legacy channel has one binding: its `since` replays everything after it.
        since !== null ? { sinceById: new Map([[0, since]]) } : null,
      );
    };
    if (!identity) {
      subscribe();
      return;
    }
    const schemaTarget: JoinTarget =
      target.kind === 'table'
        ? { schema: target.schema, table: target.table, columns: filter.conditions.map((c) => c.column) }
        : { schema: target.kind === 'schema' ? target.schema : '*', table: '*', columns: [] };
    return this.opts.support.checkRows(
      ws,
      identity,
      [schemaTarget],
      ([problem]) => (problem ? this.opts.replies.joinError(ws, msg, problem) : subscribe()),
      () =>
        this.opts.replies.joinError(
          ws,
          msg,
          errorReason('RowAuthorizationUnavailable', 'could not check the join against the database; retry'),
        ),
    );
  }
}
