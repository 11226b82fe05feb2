/**
 * One Phoenix channel message, independent of its serialisation. Nothing outside the codecs knows
 * whether a socket speaks `vsn=1.0.0` (JSON objects) or `vsn=2.0.0` (JSON arrays).
 */

export interface PhoenixMessage<P = unknown> {
  /** The ref of the join that opened the channel; `null` on heartbeats, fan-out frames and V1 output. */
  joinRef: string | null;
  /** The request ref a reply answers; `null` on pushes and broadcasts. */
  ref: string | null;
  /** `realtime:<subtopic>`, or `phoenix` for heartbeats. */
  topic: string;
  event: string;
  payload: P;
}

/** Events the server understands or emits; others are ignored on joined channels. */
export const PhoenixEvents = {
  join: 'phx_join',
  leave: 'phx_leave',
  reply: 'phx_reply',
  error: 'phx_error',
  close: 'phx_close',
  heartbeat: 'heartbeat',
  accessToken: 'access_token',
  postgresChanges: 'postgres_changes',
  system: 'system',
  broadcast: 'broadcast',
  presence: 'presence',
  presenceState: 'presence_state',
  presenceDiff: 'presence_diff',
} as const;

/** The topic of socket-level messages (heartbeats). */
export const PHOENIX_TOPIC = 'phoenix';

/** A frame that cannot be decoded. The message says what was wrong, for the client that sent it. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    /** The ref of the offending frame when it could be read, so the error can answer it. */
    readonly ref: string | null = null,
    readonly topic: string | null = null,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** `{status, response}` of a `phx_reply`. */
export interface ReplyPayload {
  status: 'ok' | 'error';
  response: unknown;
}
