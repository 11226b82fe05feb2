/**
 * A channel that joined with `since` resumes: once its group is live and its join answered, the
 * socket's live frames are held while the history after `since` is replayed to it
 * (channels/history-replay.ts); then the held frames it did not already get are sent and the socket
 * is subscribed to the group, in one turn. A history that no longer covers `since` gets a
 * `HistoryGap` system message (the application refetches once) and the channel goes live; one that
 * cannot be read gets a `HistoryUnavailable` error and `phx_error` (the client rejoins and resumes
 * from the same position). Without a history (HISTORY=false), every `since` is a HistoryGap.
 *
 * A replayed socket goes live only once this gateway's own live stream has passed both `since` and
 * the last change replayed (the frames up to there are held, then dropped): a client resuming on a
 * gateway that is behind (it got `since` from another gateway, or the history is ahead of this
 * gateway's pub/sub) would otherwise get those changes a second time as they arrive live. In a
 * quiet moment that wait ends with the next change heard (nothing is waiting to be sent meanwhile).
 */
import { comparePositionTexts, errorReason } from '@walcast/protocol';
import type { History } from '@walcast/bus';
import type { ChannelMembership } from '../channels/channel-membership';
import type { ChannelRegistry } from '../channels/channel-registry';
import type { DeliveryGroup, Fanout } from '../channels/delivery-group';
import { replayHistory, type ReplayOutcome } from '../channels/history-replay';
import type { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { pushErrorAndFail, pushSystemError } from './frames';
import type { SocketData } from './socket-data';

/** Where a joining channel resumes: per binding id, the position after which it wants changes. */
export interface ResumeRequest {
  sinceById: ReadonlyMap<number, string>;
}

/**
 * Longest wait for the live stream to pass the resume position; past it the socket goes live anyway
 * (a position this gateway never hears, e.g. one made up), at worst with changes it already has.
 */
const LIVE_WAIT_MS = 5000;

export interface ChannelResumeOptions {
  registry: ChannelRegistry;
  history: History | null;
  fanout: Fanout;
  metrics: GatewayMetrics;
}

export class ChannelResume {
  constructor(private readonly opts: ChannelResumeOptions) {}

  /**
   * Replays to `ws`, then makes it a live member of its group. Called, corked, when the membership
   * just became joined (its reply sent); `subscribe` subscribes the socket to the group's uWS topic.
   */
  start(
    ws: WebSocket<SocketData>,
    membership: ChannelMembership,
    request: ResumeRequest,
    subscribe: (group: DeliveryGroup) => void,
    end: () => void,
  ): void {
    const group = membership.group!;
    const data = ws.getUserData();
    const since = [...request.sinceById.values()].sort()[0]!;
    const { history } = this.opts;
    group.startResuming(ws);
    const active = (): boolean =>
      !data.closed && data.channels.get(membership.topic) === membership && group.isResuming(ws);
    const replayGroup = this.opts.registry.replayGroupFor(group, request.sinceById);
    const replayed: Promise<ReplayOutcome> = history
      ? replayHistory(history, { group, replayGroup, socket: ws, since, active }, this.opts.fanout)
      : Promise.resolve({ kind: 'gap', oldest: null });
    const outcome = replayed.then(async (result) => {
      if (result.kind !== 'replayed') return result; // a HistoryGap: the application refetches anyway
      const through = [...request.sinceById.values(), ...result.lastByTable.values()];
      const last = through.reduce((a, b) => (comparePositionTexts(a, b) >= 0 ? a : b));
      await this.opts.registry.whenPassed(last, group, LIVE_WAIT_MS);
      return result;
    });
    outcome.then(
      (result) => {
        if (result.kind === 'abandoned' || !active()) return;
        ws.cork(() => {
          if (result.kind === 'gap') {
            this.opts.metrics.replays.inc({ result: 'gap' });
            const oldest = result.oldest
              ? `the oldest position held is ${result.oldest}`
              : 'no history is held';
            pushSystemError(
              ws,
              membership.topic,
              membership.joinRef,
              'postgres_changes',
              errorReason('HistoryGap', `changes after ${since} are no longer all held (${oldest}); refetch`),
            );
          } else {
            this.opts.metrics.replays.inc({ result: 'ok' });
            this.opts.metrics.replayedChanges.inc(result.changes);
          }
          const frames = group.finishResuming(
            ws,
            result.kind === 'replayed' ? result.lastByTable : new Map(),
            since,
          );
          if (frames === null) {
            this.fail(ws, membership, end, 'too many changes arrived during the replay; rejoin to resume');
            return;
          }
          for (const frame of frames) this.opts.fanout.send(ws, frame);
          subscribe(group);
        });
      },
      () => {
        if (!active()) return;
        this.opts.metrics.replays.inc({ result: 'failed' });
        ws.cork(() => this.fail(ws, membership, end, 'could not read the change history; rejoin to resume'));
      },
    );
  }

  /** The channel cannot resume now: told why, then `phx_error` (the client rejoins with the same `since`). */
  private fail(ws: WebSocket<SocketData>, membership: ChannelMembership, end: () => void, why: string): void {
    end();
    pushErrorAndFail(
      ws,
      membership.topic,
      membership.joinRef,
      'postgres_changes',
      errorReason('HistoryUnavailable', why),
    );
  }
}
