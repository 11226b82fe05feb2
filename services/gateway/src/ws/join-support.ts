/**
 * What the legacy and the modern join share: row authorization's checks of a join against the
 * database, and the refusal of a join whose group would pass MAX_BUS_SUBSCRIPTIONS.
 */
import type { BusKey } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import type { PhoenixMessage } from '@walcast/protocol';
import type { ChannelRegistry } from '../channels/channel-registry';
import type { ClientLimits } from '../config';
import type { Identity } from '../rls/identity';
import { joinProblems, type JoinTarget } from '../rls/join-checks';
import type { TableAccessCatalog } from '../rls/table-access';
import type { WebSocket } from '../uws';
import { checkSubscriptions } from './client-limits';
import type { ClientReplies } from './client-replies';
import type { SocketData } from './socket-data';

export interface JoinSupportOptions {
  registry: ChannelRegistry;
  limits: ClientLimits;
  rowAuth: { catalog: TableAccessCatalog } | null;
  replies: ClientReplies;
  log: Logger;
}

export class JoinSupport {
  constructor(private readonly opts: JoinSupportOptions) {}

  /**
   * Row authorization's checks of a join (the role exists; its filters and `select` name readable
   * columns), then `proceed` with the problem of each target (null: none), corked. When the database
   * cannot answer, `unavailable` instead. Nothing is checked without row authorization.
   */
  checkRows(
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

  /** True (and the join answered) when the group the join needs would pass MAX_BUS_SUBSCRIPTIONS. */
  refusedForSubscriptions(ws: WebSocket<SocketData>, msg: PhoenixMessage, keys: readonly BusKey[]): boolean {
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
