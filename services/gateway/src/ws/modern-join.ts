/**
 * A join with `config` (realtime-js 2.x, supabase-js 2.x): the reply echoes
 * `config.postgres_changes` verbatim with ids at once; a `system` message follows, "Subscribed to
 * PostgreSQL" once the subscriptions are live, or an error per binding that cannot be served
 * (docs/protocol.md M2).
 */
import { PhoenixEvents, errorReason, type PhoenixMessage } from '@walcast/protocol';
import type { DeliveryGroup } from '../channels/delivery-group';
import { bindingId, parseBinding, type Binding } from '../channels/postgres-changes-binding';
import type { ClientLimits } from '../config';
import type { Identity } from '../rls/identity';
import type { WebSocket } from '../uws';
import { checkBindings } from './client-limits';
import { pushLifecycle, reply } from './frames';
import type { JoinKindOptions } from './legacy-join';
import type { SocketData } from './socket-data';

export class ModernJoin {
  constructor(private readonly opts: JoinKindOptions & { limits: ClientLimits }) {}

  /**
   * With `config`: the reply echoes `config.postgres_changes` verbatim with ids at once; a `system`
   * message follows, "Subscribed to PostgreSQL" once the subscriptions are live, or an error per
   * binding that cannot be served.
   */
  join(
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
      this.opts.support.refusedForSubscriptions(
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
    return this.opts.support.checkRows(
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
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
