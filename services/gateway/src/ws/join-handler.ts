/**
 * Joins (`phx_join`): the client limits, the token check (SECURE_CHANNELS), row authorization's
 * checks, then the legacy (topic names the table) or modern (`config.postgres_changes`) join. A
 * legacy join is answered `ok` only once the channel's bus subscription is live, so a row committed
 * after the reply is delivered (docs/protocol.md L2, M2); a modern join is answered at once with its
 * bindings echoed, then told "Subscribed to PostgreSQL" once live.
 *
 * Returns a promise while it waits (token, database): the frame router holds the socket's later
 * frames until it settles.
 */
import {
  ErrorCodes,
  PhoenixEvents,
  TopicError,
  errorReason,
  parseLegacySubtopic,
  subtopicOf,
  type LegacyTarget,
  type PhoenixMessage,
} from '@walcast/protocol';
import type { BusKey } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { AuthError } from '../auth/auth-error';
import { channelToken, type VerifiedToken } from '../auth/token-verifier';
import { FilterError, parseFilter } from '../filters/filter-parser';
import { RowFilter } from '../filters/row-filter';
import { bindingId, parseBinding, type Binding } from '../channels/postgres-changes-binding';
import type { DeliveryGroup } from '../channels/delivery-group';
import { busKeyForLegacy, type ChannelRegistry } from '../channels/channel-registry';
import type { ClientLimits } from '../config';
import type { GatewayMetrics } from '../metrics';
import { identityOf, type Identity } from '../rls/identity';
import { joinProblems, type JoinTarget } from '../rls/join-checks';
import type { TableAccessCatalog } from '../rls/table-access';
import type { WebSocket } from '../uws';
import type { ChannelAuth } from './channel-auth';
import type { ClientReplies } from './client-replies';
import {
  JoinRate,
  checkBindings,
  checkChannels,
  checkSubscriptions,
  checkTopic,
  joinRateRefusal,
} from './client-limits';
import { pushLifecycle, reply } from './frames';
import type { Memberships } from './memberships';
import type { SocketData } from './socket-data';

export interface JoinHandlerOptions {
  registry: ChannelRegistry;
  limits: ClientLimits;
  /** ROW_AUTHORIZATION=postgres: channels read as their JWT's role and claims; else null. */
  rowAuth: { catalog: TableAccessCatalog } | null;
  /** Token checks; null when SECURE_CHANNELS is off (joins need no token). */
  auth: ChannelAuth | null;
  replies: ClientReplies;
  memberships: Memberships;
  metrics: GatewayMetrics;
  log: Logger;
}

export class JoinHandler {
  constructor(private readonly opts: JoinHandlerOptions) {}

  join(ws: WebSocket<SocketData>, msg: PhoenixMessage): Promise<void> | undefined {
    const data = ws.getUserData();
    const { limits } = this.opts;
    const now = Date.now();
    if (!(data.joinRate ??= new JoinRate(limits.maxJoinsPerSecond, now)).take(now)) {
      // As the original server: refuse, then disconnect (the client reconnects with backoff).
      this.opts.replies.refuse(ws, msg, joinRateRefusal(limits));
      data.closeReason = 'join_rate';
      ws.end(ErrorCodes.ClientJoinRateLimitReached.close, 'too many joins per second');
      data.closed = true; // nothing more is read from or sent to it
      return;
    }
    const subtopic = subtopicOf(msg.topic);
    if (subtopic === null) {
      this.opts.replies.joinError(ws, msg, 'unmatched topic');
      return;
    }
    const payload = isObject(msg.payload) ? msg.payload : {};
    const refusal =
      checkChannels(data.channels.size, data.channels.has(msg.topic), limits) ??
      checkTopic(msg.topic, 'config' in payload, limits);
    if (refusal) {
      this.opts.replies.refuse(ws, msg, refusal);
      return;
    }
    const { auth } = this.opts;
    if (!auth) return this.joinVerified(ws, msg, subtopic, payload, null);
    const token = channelToken(payload, data.connectToken);
    return auth.check(token).then((result) => {
      if (data.closed) return;
      let pending: Promise<void> | undefined;
      ws.cork(() => {
        if (result instanceof AuthError) {
          auth.refuseJoin(ws, msg, 'config' in payload, result);
          return;
        }
        pending = this.joinVerified(ws, msg, subtopic, payload, { token: token!, verified: result });
      });
      return pending;
    });
  }

  private joinVerified(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    payload: Record<string, unknown>,
    auth: { token: string; verified: VerifiedToken } | null,
  ): Promise<void> | undefined {
    const data = ws.getUserData();
    const rowAuth = this.opts.rowAuth && auth ? identityOf(auth.verified.claims) : null;
    if (rowAuth && 'error' in rowAuth) {
      // The original server's refusal of a token without `role`.
      this.opts.replies.joinError(ws, msg, 'InvalidJWTToken: Fields `role` and `exp` are required in JWT');
      return;
    }
    const previous = data.channels.get(msg.topic);
    if (previous) {
      // A second join of a joined topic replaces the first (Phoenix shuts the old channel down).
      this.opts.memberships.end(ws, previous);
      pushLifecycle(ws, msg.topic, previous.joinRef, PhoenixEvents.close);
    }
    const authorize = (): void => {
      const membership = data.channels.get(msg.topic);
      if (auth && membership && membership.request.ref === msg.ref && membership.token === null)
        this.opts.auth?.authorize(ws, membership, auth.token, auth.verified);
    };
    const pending =
      'config' in payload
        ? this.joinModern(ws, msg, subtopic, payload.config, rowAuth)
        : this.joinLegacy(ws, msg, subtopic, rowAuth);
    if (!pending) {
      authorize();
      return;
    }
    return pending.then(() => {
      if (!data.closed) ws.cork(authorize);
    });
  }

  /**
   * Row authorization's checks of a join (the role exists; its filters and `select` name readable
   * columns), then `proceed` with the problem of each target (null: none), corked. When the database
   * cannot answer, `unavailable` instead. Nothing is checked without row authorization.
   */
  private checkRows(
    ws: WebSocket<SocketData>,
    identity: Identity,
    targets: JoinTarget[],
    proceed: (problems: Array<string | null>) => void,
    unavailable: () => void,
  ): Promise<void> {
    const data = ws.getUserData();
    return joinProblems(this.opts.rowAuth!.catalog, identity, targets).then(
      (problems) => {
        if (!data.closed) ws.cork(() => proceed(problems));
      },
      (err: unknown) => {
        this.opts.replies.logThrottled('row-auth-join', (suppressed) =>
          this.opts.log.warn(
            { err, connId: data.id, code: 'RowAuthorizationUnavailable', suppressed },
            'could not check a join against the database',
          ),
        );
        if (!data.closed) ws.cork(unavailable);
      },
    );
  }

  /** Without `config`: the topic names what to deliver; answered `ok` once the subscription is live. */
  private joinLegacy(
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
    if (this.refusedForSubscriptions(ws, msg, [busKeyForLegacy(target)])) return;
    const subscribe = (): void => {
      const rebuild = (as: Identity | null): DeliveryGroup =>
        this.opts.registry.legacyGroup(msg.topic, target, filter, as);
      this.opts.memberships.attach(ws, msg, rebuild(identity), false, rebuild, () => {
        this.opts.metrics.joins.inc({ result: 'ok' });
        reply(ws, msg, 'ok', {});
        this.opts.replies.pushSubscribed(ws, msg, subtopic);
      });
    };
    if (!identity) {
      subscribe();
      return;
    }
    const schemaTarget: JoinTarget =
      target.kind === 'table'
        ? { schema: target.schema, table: target.table, columns: filter.conditions.map((c) => c.column) }
        : { schema: target.kind === 'schema' ? target.schema : '*', table: '*', columns: [] };
    return this.checkRows(
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

  /**
   * With `config`: the reply echoes `config.postgres_changes` verbatim with ids at once; a `system`
   * message follows, "Subscribed to PostgreSQL" once the subscriptions are live, or an error per
   * binding that cannot be served.
   */
  private joinModern(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    subtopic: string,
    config: unknown,
    identity: Identity | null,
  ): Promise<void> | undefined {
    if (subtopic === '') {
      this.opts.replies.joinError(ws, msg, errorReason('TopicNameRequired', 'You must provide a topic name'));
      return;
    }
    const requested =
      isObject(config) && Array.isArray(config.postgres_changes) ? config.postgres_changes : [];
    const { limits } = this.opts;
    const refusal = checkBindings(requested, limits);
    if (refusal) {
      this.opts.replies.refuse(ws, msg, refusal);
      return;
    }
    const echo = requested.map((entry: unknown) => ({
      id: bindingId(entry),
      ...(isObject(entry) ? entry : {}),
    }));
    const bindings: Binding[] = [];
    const errors: string[] = [];
    for (const entry of requested) {
      const parsed = parseBinding(entry, limits.maxFilterBytes);
      if ('error' in parsed) errors.push(parsed.error);
      else bindings.push(parsed);
    }
    if (
      this.refusedForSubscriptions(
        ws,
        msg,
        bindings.map((b) => b.busKey),
      )
    )
      return;
    this.opts.metrics.joins.inc({ result: 'ok' });
    reply(ws, msg, 'ok', { postgres_changes: echo });
    const subscribe = (served: Binding[], refused: string[]): void => {
      for (const message of refused) this.opts.replies.pushSystemError(ws, msg, subtopic, message);
      const rebuild = (as: Identity | null): DeliveryGroup =>
        this.opts.registry.postgresChangesGroup(msg.topic, served, as);
      const group = served.length > 0 ? rebuild(identity) : null;
      this.opts.memberships.attach(ws, msg, group, true, group ? rebuild : null, () =>
        this.opts.replies.pushSubscribed(ws, msg, subtopic),
      );
    };
    if (!identity || bindings.length === 0) {
      subscribe(bindings, errors);
      return;
    }
    return this.checkRows(
      ws,
      identity,
      bindings.map((b) => ({ schema: b.schema, table: b.table, columns: b.columns })),
      (problems) => {
        const served = bindings.filter((_, i) => problems[i] === null);
        subscribe(served, [...errors, ...problems.filter((p): p is string => p !== null)]);
      },
      () => {
        const reason = errorReason(
          'RowAuthorizationUnavailable',
          'could not check the join against the database; retry',
        );
        this.opts.replies.pushSystemError(ws, msg, subtopic, reason);
        pushLifecycle(ws, msg.topic, msg.joinRef ?? msg.ref, PhoenixEvents.error);
      },
    );
  }

  /** True (and the join answered) when the group the join needs would pass MAX_BUS_SUBSCRIPTIONS. */
  private refusedForSubscriptions(
    ws: WebSocket<SocketData>,
    msg: PhoenixMessage,
    keys: readonly BusKey[],
  ): boolean {
    const { registry, limits } = this.opts;
    const refusal = checkSubscriptions(
      registry.busSubscriptionCount,
      registry.subscriptionsNeeded(keys),
      limits,
    );
    if (refusal) this.opts.replies.refuse(ws, msg, refusal);
    return refusal !== null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
