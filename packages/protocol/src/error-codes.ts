/**
 * The catalogue of client-facing error codes: every code a websocket client can see. Phoenix
 * reports most client faults as a `phx_reply` with `{status: "error", response: {reason: "<Code>:
 * <message>"}}` (Supabase's `build_msg` format), so the code is searchable in the client console
 * and in our logs. Close codes end a whole socket and follow one rule, {@link closeInvitesReconnect}
 * (centrifuge's convention). Codes only operators see are in log-codes.ts. `where` names the files
 * that emit the code (a unit test checks it); `pnpm docs:errors` writes docs/errors.md from here.
 */

/** One client-facing code. `close` is the websocket close code, or null when the socket stays open. */
export interface ClientErrorEntry {
  close: number | null;
  /** Whether the client should reconnect (close codes) or retry the join (replies). */
  retry: boolean;
  doc: string;
  where: readonly string[];
}

const gatewayServer = 'services/gateway/src/gateway-server.ts';
const connectionHandler = 'services/gateway/src/ws/connection-handler.ts';
const joinHandler = 'services/gateway/src/ws/join-handler.ts';
const legacyJoin = 'services/gateway/src/ws/legacy-join.ts';
const modernJoin = 'services/gateway/src/ws/modern-join.ts';
const clientReplies = 'services/gateway/src/ws/client-replies.ts';
const memberships = 'services/gateway/src/ws/memberships.ts';
const tokenVerifier = 'services/gateway/src/auth/jose-token-verifier.ts';
const clientLimits = 'services/gateway/src/ws/client-limits.ts';
const channelRegistry = 'services/gateway/src/channels/channel-registry.ts';
const channelAuthorizer = 'services/gateway/src/rls/channel-authorizer.ts';
const restBroadcast = 'services/gateway/src/http/rest-broadcast.ts';
const channelResume = 'services/gateway/src/ws/channel-resume.ts';

export const ErrorCodes = {
  ServerShuttingDown: {
    close: 4000,
    retry: true,
    doc: 'The gateway is draining; reconnect to another instance.',
    where: [gatewayServer],
  },
  SlowConsumer: {
    close: 4001,
    retry: true,
    doc:
      'The socket exceeded its backpressure limit and was closed (during fan-out uWebSockets.js closes ' +
      'it without a close frame, seen as 1006).',
    where: ['services/gateway/src/ws/uws-fanout.ts'],
  },
  IdleTimeout: {
    close: 4003,
    retry: true,
    doc: 'No frame arrived within SOCKET_TIMEOUT; heartbeats keep a socket open.',
    where: [gatewayServer],
  },
  ClientJoinRateLimitReached: {
    close: 4004,
    retry: true,
    doc:
      'The socket sent more joins per second than MAX_JOINS_PER_SECOND; the join is refused and the ' +
      'socket closed (the client reconnects with backoff).',
    where: [joinHandler, clientLimits],
  },
  ClientBroadcastRateLimitReached: {
    close: 4005,
    retry: true,
    doc:
      'The socket sent more broadcasts per second than MAX_SOCKET_BROADCASTS_PER_SECOND over all its ' +
      'channels; the channel that sent gets the `system` error "Too many messages per second" and the ' +
      'socket is closed (the client reconnects with backoff). Past MAX_CHANNEL_BROADCASTS_PER_SECOND ' +
      'only the channel is closed, with the same `system` error.',
    where: ['services/gateway/src/ws/broadcast-push.ts'],
  },
  PrivateChannelUnavailable: {
    close: null,
    retry: false,
    doc:
      'A join with `config.private: true` was refused: private channels are authorized by policies on ' +
      'realtime.messages, which needs SECURE_CHANNELS and a database (DATABASE_URL or DB_*).',
    where: [modernJoin],
  },
  PrivateOnly: {
    close: null,
    retry: false,
    doc: 'A join of a public channel was refused: PRIVATE_ONLY is set, so only private channels may be joined.',
    where: [modernJoin, joinHandler],
  },
  UnableToReplayMessages: {
    close: null,
    retry: false,
    doc:
      'A join asked for `config.broadcast.replay` on a public channel (replay is for private channels, as ' +
      'the reference), or the stored messages could not be read (retry).',
    where: [modernJoin],
  },
  HistoryGap: {
    close: null,
    retry: false,
    doc:
      "A join with `since` (a binding's `since`, or `since` in a legacy join payload) asked for changes the " +
      "history no longer holds: trimmed (HISTORY_MAX_LEN, HISTORY_TTL), lost with Redis's data, or no " +
      'history kept. Sent as a `system` message naming the oldest position still held; the channel stays ' +
      'subscribed and live, so the application refetches its data once.',
    where: [channelResume],
  },
  HistoryUnavailable: {
    close: null,
    retry: true,
    doc:
      'A join with `since` could not read the history (Redis unreachable or too slow): a `system` error ' +
      'then `phx_error`; the client rejoins (with backoff) and resumes from the same position.',
    where: [channelResume],
  },
  InvalidPosition: {
    close: null,
    retry: false,
    doc: "`since` in a legacy join payload is not a position as received in a change's `position`.",
    where: [legacyJoin],
  },
  InternalError: {
    close: null,
    retry: true,
    doc:
      'An unexpected error of the gateway while handling a frame (answered with this reason, the socket ' +
      'stays open), a connect check or a REST broadcast (HTTP 500), a token check or a metrics scrape ' +
      '(logged); a bug to report.',
    where: [
      connectionHandler,
      clientReplies,
      gatewayServer,
      'services/gateway/src/http-routes.ts',
      restBroadcast,
    ],
  },
  ProtocolViolation: {
    close: null,
    retry: false,
    doc: 'A frame could not be parsed or is not allowed; answered with an error, the socket stays open.',
    where: [clientReplies],
  },
  TopicNameRequired: {
    close: null,
    retry: false,
    doc: 'The topic `realtime:` names nothing.',
    where: [legacyJoin, modernJoin],
  },
  InvalidTopic: {
    close: null,
    retry: false,
    doc: 'A legacy topic could not be parsed (schema or table missing).',
    where: [legacyJoin],
  },
  InvalidFilter: {
    close: null,
    retry: false,
    doc: 'A row filter could not be parsed or uses an unsupported operator.',
    where: [legacyJoin],
  },
  TopicTooLong: {
    close: null,
    retry: false,
    doc: 'The channel topic is longer than MAX_TOPIC_LENGTH, or its filter longer than MAX_FILTER_LENGTH, in bytes.',
    where: [clientLimits],
  },
  TooManyBindings: {
    close: null,
    retry: false,
    doc: 'A join asked for more than MAX_BINDINGS_PER_JOIN `postgres_changes` bindings.',
    where: [clientLimits],
  },
  BindingTooLarge: {
    close: null,
    retry: false,
    doc: 'One `postgres_changes` binding is larger than MAX_FILTER_LENGTH plus 1 KiB as JSON (it is echoed in the join reply).',
    where: [clientLimits],
  },
  ChannelRateLimitReached: {
    close: null,
    retry: false,
    doc: 'The socket already has MAX_CHANNELS_PER_SOCKET channels joined ("Too many channels"); leave one first.',
    where: [clientLimits],
  },
  SubscriptionLimitReached: {
    close: null,
    retry: true,
    doc: 'The gateway holds MAX_BUS_SUBSCRIPTIONS distinct Redis subscriptions and the join needs another; retry later or elsewhere.',
    where: [clientLimits],
  },
  RowAuthorizationUnavailable: {
    close: null,
    retry: true,
    doc:
      'Changes could not be checked against row-level security (the database did not answer) and were ' +
      'not sent to the channel, or a join could not be checked; delivery resumes by itself, a join is retried.',
    where: [
      'services/gateway/src/ws/private-channels.ts',
      legacyJoin,
      modernJoin,
      'services/gateway/src/ws/join-support.ts',
      channelRegistry,
      channelAuthorizer,
    ],
  },
  WritePermissionUnavailable: {
    close: null,
    retry: true,
    doc:
      'The write permission of a private REST broadcast could not be checked (the policy check failed): ' +
      'in a batch the topic’s messages are dropped (the batch is still 202), alone it is answered 500 ' +
      '"Unable to authorize broadcast". Logged, throttled.',
    where: [restBroadcast],
  },
  BusUnavailable: {
    close: null,
    retry: true,
    doc:
      'The gateway could not subscribe to Redis in time; the client retries the join. Also logged ' +
      'when Redis is lost or a subscription fails, and when a REST broadcast could not be published ' +
      '(answered 503; the caller may retry).',
    where: [
      memberships,
      restBroadcast,
      'services/gateway/src/channels/bus-subscriptions.ts',
      'packages/bus/src/redis-bus.ts',
    ],
  },
  InvalidJWTToken: {
    close: null,
    retry: false,
    doc:
      'A modern join (or token refresh) was refused: the token has expired, lacks `exp` or `role`, ' +
      'is not valid yet, or a claim is not accepted.',
    where: [tokenVerifier, 'services/gateway/src/auth/auth-error.ts'],
  },
  MalformedJWT: {
    close: null,
    retry: false,
    doc: 'A modern join was refused: the token is missing or is not a JWT.',
    where: ['services/gateway/src/auth/auth-error.ts'],
  },
  JwtSignatureError: {
    close: null,
    retry: false,
    doc: "A modern join was refused: the signature, algorithm or key id does not match the gateway's keys.",
    where: ['services/gateway/src/auth/auth-error.ts'],
  },
  JwtSignerError: {
    close: null,
    retry: true,
    doc: 'A modern join was refused because the JWKS could not be fetched; the client may retry later.',
    where: [tokenVerifier],
  },
  Unauthorized: {
    close: null,
    retry: false,
    doc:
      'A private channel was refused: no policy on `realtime.messages` lets the JWT role read the topic ' +
      "(or a policy raised, or the role is not a PostgreSQL role); the wording is Supabase Realtime's.",
    where: [channelAuthorizer],
  },
} as const satisfies Record<string, ClientErrorEntry>;

export type ErrorCode = keyof typeof ErrorCodes;

/** How much of a message built from client input an error reply or a log line repeats. */
export const MAX_ECHO_CHARS = 200;

/** `text` cut to `max` characters (`…` marks the cut): client input is never echoed at length. */
export function clip(text: string, max = MAX_ECHO_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/**
 * `"<Code>: <message>"`, the reason format Supabase Realtime uses in error replies. The message is
 * clipped: it often quotes what the client sent.
 */
export function errorReason(code: ErrorCode, message: string): string {
  return `${code}: ${clip(message)}`;
}

/**
 * The one rule for close codes: 4000–4499 invite a reconnect (with backoff), 4500–4999 ask the
 * client not to retry without new credentials; anything else is the websocket's own (1000–3999).
 */
export function closeInvitesReconnect(close: number): boolean {
  return close < 4500 || close > 4999;
}
