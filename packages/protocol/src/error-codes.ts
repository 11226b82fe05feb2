/**
 * The catalogue of client-facing error codes. Phoenix reports most client faults as a `phx_reply`
 * with `{status: "error", response: {reason: "<Code>: <message>"}}` (Supabase's `build_msg` format),
 * so the code is searchable in the client console and in our logs. Close codes end a whole socket:
 * 4000–4499 invite a reconnect, 4500–4999 ask the client not to retry without new credentials
 * (centrifuge's convention). docs/errors.md lists every entry; a unit test keeps the two in step.
 */
export const ErrorCodes = {
  ServerShuttingDown: {
    close: 4000,
    retry: true,
    doc: 'The gateway is draining; reconnect to another instance.',
  },
  SlowConsumer: {
    close: 4001,
    retry: true,
    doc: 'The socket exceeded its backpressure limit and was closed.',
  },
  InternalError: { close: 4002, retry: true, doc: 'An unexpected server error; reconnect with backoff.' },
  IdleTimeout: {
    close: 4003,
    retry: true,
    doc: 'No frame arrived within SOCKET_TIMEOUT; heartbeats keep a socket open.',
  },
  ClientJoinRateLimitReached: {
    close: 4004,
    retry: true,
    doc: 'The socket sent more joins per second than MAX_JOINS_PER_SECOND; the join is refused and the socket closed (the client reconnects with backoff).',
  },
  InvalidToken: {
    close: 4500,
    retry: false,
    doc: 'The JWT is missing, malformed or its signature is invalid.',
  },
  TokenExpired: { close: 4501, retry: false, doc: 'The JWT `exp` has passed; obtain a new token.' },
  ProtocolViolation: {
    close: null,
    retry: false,
    doc: 'A frame could not be parsed or is not allowed; answered with an error, the socket stays open.',
  },
  UnmatchedTopic: {
    close: null,
    retry: false,
    doc: 'The topic does not start with `realtime:` (Phoenix\'s "unmatched topic").',
  },
  TopicNameRequired: { close: null, retry: false, doc: 'The topic `realtime:` names nothing.' },
  InvalidTopic: {
    close: null,
    retry: false,
    doc: 'A legacy topic could not be parsed (schema or table missing).',
  },
  InvalidFilter: {
    close: null,
    retry: false,
    doc: 'A row filter could not be parsed or uses an unsupported operator.',
  },
  TopicTooLong: {
    close: null,
    retry: false,
    doc: 'The channel topic is longer than MAX_TOPIC_LENGTH, or its filter longer than MAX_FILTER_LENGTH, in bytes.',
  },
  TooManyBindings: {
    close: null,
    retry: false,
    doc: 'A join asked for more than MAX_BINDINGS_PER_JOIN `postgres_changes` bindings.',
  },
  BindingTooLarge: {
    close: null,
    retry: false,
    doc: 'One `postgres_changes` binding is larger than MAX_FILTER_LENGTH plus 1 KiB as JSON (it is echoed in the join reply).',
  },
  ChannelRateLimitReached: {
    close: null,
    retry: false,
    doc: 'The socket already has MAX_CHANNELS_PER_SOCKET channels joined ("Too many channels"); leave one first.',
  },
  SubscriptionLimitReached: {
    close: null,
    retry: true,
    doc: 'The gateway holds MAX_BUS_SUBSCRIPTIONS distinct Redis subscriptions and the join needs another; retry later or elsewhere.',
  },
  RowAuthorizationUnavailable: {
    close: null,
    retry: true,
    doc: 'Changes could not be checked against row-level security (the database did not answer) and were not sent to the channel; delivery resumes by itself.',
  },
  BusUnavailable: {
    close: null,
    retry: true,
    doc: 'The gateway could not subscribe to Redis in time; the client retries the join.',
  },
} as const;

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
