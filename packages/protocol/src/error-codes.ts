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
const tokenVerifier = 'services/gateway/src/auth/jose-token-verifier.ts';

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
    where: [gatewayServer],
  },
  IdleTimeout: {
    close: 4003,
    retry: true,
    doc: 'No frame arrived within SOCKET_TIMEOUT; heartbeats keep a socket open.',
    where: [gatewayServer],
  },
  ProtocolViolation: {
    close: null,
    retry: false,
    doc: 'A frame could not be parsed or is not allowed; answered with an error, the socket stays open.',
    where: [connectionHandler],
  },
  TopicNameRequired: {
    close: null,
    retry: false,
    doc: 'The topic `realtime:` names nothing.',
    where: [connectionHandler],
  },
  InvalidTopic: {
    close: null,
    retry: false,
    doc: 'A legacy topic could not be parsed (schema or table missing).',
    where: [connectionHandler],
  },
  InvalidFilter: {
    close: null,
    retry: false,
    doc: 'A row filter could not be parsed or uses an unsupported operator.',
    where: [connectionHandler],
  },
  BusUnavailable: {
    close: null,
    retry: true,
    doc:
      'The gateway could not subscribe to Redis in time; the client retries the join. Also logged ' +
      'when Redis is lost or a subscription fails.',
    where: [
      connectionHandler,
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
} as const satisfies Record<string, ClientErrorEntry>;

export type ErrorCode = keyof typeof ErrorCodes;

/** `"<Code>: <message>"`, the reason format Supabase Realtime uses in error replies. */
export function errorReason(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}

/**
 * The one rule for close codes: 4000–4499 invite a reconnect (with backoff), 4500–4999 ask the
 * client not to retry without new credentials; anything else is the websocket's own (1000–3999).
 */
export function closeInvitesReconnect(close: number): boolean {
  return close < 4500 || close > 4999;
}
