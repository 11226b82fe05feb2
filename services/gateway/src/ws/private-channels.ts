/**
 * Private channels (`config.private: true`), authorized by the user's policies on
 * realtime.messages (rls/channel-authorizer.ts) as the reference does: read permission at join,
 * write permission on the first broadcast (kept until the channel's token changes), and read again
 * when the token changes; a channel that lost it is told "You no longer have permission to read
 * from this Channel topic" and closed. Every check fails closed: a database that does not answer
 * refuses the join (retry) or drops the broadcast.
 *
 * Unlike the reference, a refused join is answered at once, not after 5 s: clients already back off
 * between rejoins and MAX_JOINS_PER_SECOND bounds the rest.
 */
import { errorReason, subtopicOf, type BroadcastMessage } from '@walcast/protocol';
import type { ReplayRequest } from '../channels/broadcast-config';
import type { Logger } from '@walcast/logger';
import type { ChannelMembership } from '../channels/channel-membership';
import {
  ChannelAuthorizationError,
  readRefusedReason,
  type ChannelAuthorizer,
  type ChannelExtension,
} from '../rls/channel-authorizer';
import { identityOf, type Identity } from '../rls/identity';
import type { MessageReplay } from '../rls/message-replay';
import type { WebSocket } from '../uws';
import type { ClientReplies } from './client-replies';
import type { Memberships } from './memberships';
import type { SocketData } from './socket-data';

export interface PrivateChannelsOptions {
  authorizer: ChannelAuthorizer;
  replay: MessageReplay;
  replies: ClientReplies;
  log: Logger;
}

export class PrivateChannels {
  constructor(private readonly opts: PrivateChannelsOptions) {}

  /**
   * What `identity` may read on `subtopic`, per extension asked for (presence only when the channel
   * enables it), or the reason to refuse the join with: it needs one of them, as the reference.
   */
  async readAccess(
    identity: Identity,
    subtopic: string,
    presence: boolean,
  ): Promise<{ broadcast: boolean; presence: boolean } | string> {
    try {
      const extensions: ChannelExtension[] = presence ? ['broadcast', 'presence'] : ['broadcast'];
      const { allowed } = await this.opts.authorizer.read(identity, subtopic, extensions);
      const access = { broadcast: allowed.broadcast === true, presence: allowed.presence === true };
      return access.broadcast || access.presence ? access : readRefusedReason(subtopic);
    } catch (err) {
      this.logUnavailable(err, 'could not check a private join against the database');
      return errorReason(
        'RowAuthorizationUnavailable',
        'could not check the join against the database; retry',
      );
    }
  }

  /** Whether the channel's current claims may track presence on its topic; rejects when it cannot be told. */
  async canTrack(membership: ChannelMembership): Promise<boolean> {
    const identity = membership.claims ? identityOf(membership.claims) : null;
    if (!identity || 'error' in identity) return false;
    const access = await this.opts.authorizer.write(identity, subtopicOf(membership.topic) ?? '', [
      'presence',
    ]);
    return access.allowed.presence === true;
  }

  /** The stored messages a join asked to replay, oldest first; rejects when the database cannot say. */
  replay(subtopic: string, request: ReplayRequest): Promise<BroadcastMessage[]> {
    return this.opts.replay.messages(subtopic, request.since, request.limit).catch((err: unknown) => {
      this.logUnavailable(err, 'could not read the messages a join asked to replay');
      throw err;
    });
  }

  /** Whether the channel's current claims may broadcast on its topic; rejects when it cannot be told. */
  async canWrite(_ws: WebSocket<SocketData>, membership: ChannelMembership): Promise<boolean> {
    const identity = membership.claims ? identityOf(membership.claims) : null;
    if (!identity || 'error' in identity) return false;
    const access = await this.opts.authorizer.write(identity, subtopicOf(membership.topic) ?? '', [
      'broadcast',
    ]);
    return access.allowed.broadcast === true;
  }

  /**
   * The channel's token changed: its write permission is asked again on its next broadcast, and its
   * read permission now; without it the channel is closed.
   */
  claimsChanged(ws: WebSocket<SocketData>, membership: ChannelMembership, memberships: Memberships): void {
    const binding = membership.broadcast;
    if (!binding || !binding.group.isPrivate || !membership.claims) return;
    binding.canWrite = null;
    binding.presence.canWrite = null;
    const identity = identityOf(membership.claims);
    const subtopic = subtopicOf(membership.topic) ?? '';
    const data = ws.getUserData();
    const recheck =
      'error' in identity
        ? Promise.resolve(false)
        : this.readAccess(identity, subtopic, binding.presence.enabled).then((r) => typeof r !== 'string');
    void recheck.then((allowed) => {
      if (allowed || data.closed || data.channels.get(membership.topic) !== membership) return;
      const message = `You no longer have permission to read from this Channel topic: ${subtopic}`;
      ws.cork(() => memberships.closeWithError(ws, membership, 'system', message));
    });
  }

  private logUnavailable(err: unknown, what: string): void {
    const code = err instanceof ChannelAuthorizationError ? err.code : 'RowAuthorizationUnavailable';
    this.opts.replies.logThrottled('private-channels', (suppressed) =>
      this.opts.log.warn({ err, code, suppressed }, what),
    );
  }
}
