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
  BusUnavailable: {
    close: null,
    retry: true,
    doc: 'The gateway could not subscribe to Redis in time; the client retries the join.',
  },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** `"<Code>: <message>"`, the reason format Supabase Realtime uses in error replies. */
export function errorReason(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}
