/**
 * Building and sending the frames a channel answers with. Phoenix's rules (docs/protocol.md P2–P4, C1–C4):
 * replies reuse the request's ref (and join_ref in V2); `phx_close`/`phx_error` carry the join ref
 * as their ref; other channel pushes have ref `null`.
 */
import { PhoenixEvents, subtopicOf, type PhoenixMessage } from '@walcast/protocol';
import { SendStatus, type WebSocket } from '../uws';
import type { SocketData } from './socket-data';

/**
 * Sends one frame (text, or binary when `isBinary`) unless the socket is closed; a dropped frame
 * (over the backpressure limit) closes it.
 */
export function sendFrame(ws: WebSocket<SocketData>, frame: string | Uint8Array, isBinary = false): void {
  const data = ws.getUserData();
  if (data.closed) return;
  // SendStatus.dropped: uWS closes the socket itself (closeOnBackpressureLimit); nothing else to do.
  if (ws.send(frame, isBinary) === SendStatus.dropped) {
    data.closed = true;
    data.closeReason = 'backpressure';
  }
}

export function sendMessage(ws: WebSocket<SocketData>, msg: PhoenixMessage): void {
  sendFrame(ws, ws.getUserData().codec.encode(msg));
}

export function reply(
  ws: WebSocket<SocketData>,
  request: Pick<PhoenixMessage, 'topic' | 'ref' | 'joinRef'>,
  status: 'ok' | 'error',
  response: unknown,
): void {
  sendMessage(ws, {
    joinRef: request.joinRef,
    ref: request.ref,
    topic: request.topic,
    event: PhoenixEvents.reply,
    payload: { status, response },
  });
}

/** `phx_close` or `phx_error` for a channel: ref = join ref. */
export function pushLifecycle(
  ws: WebSocket<SocketData>,
  topic: string,
  joinRef: string | null,
  event: 'phx_close' | 'phx_error',
): void {
  sendMessage(ws, { joinRef, ref: joinRef, topic, event, payload: {} });
}

/** A channel push such as `system`: V1 ref null, V2 `[join_ref, null, …]`. */
export function push(
  ws: WebSocket<SocketData>,
  topic: string,
  joinRef: string | null,
  event: string,
  payload: unknown,
): void {
  sendMessage(ws, { joinRef, ref: null, topic, event, payload });
}

/** A `system` error on a channel, about `extension` (`postgres_changes`, `broadcast`, `presence`…). */
export function pushSystemError(
  ws: WebSocket<SocketData>,
  topic: string,
  joinRef: string | null,
  extension: string,
  message: string,
): void {
  push(ws, topic, joinRef, PhoenixEvents.system, {
    channel: subtopicOf(topic),
    extension,
    message,
    status: 'error',
  });
}

/**
 * A modern channel ended by the server: a `system` error saying why (`extension` names what it is
 * about), then `phx_close` (realtime-js marks the channel closed and does not rejoin by itself).
 */
export function pushErrorAndClose(
  ws: WebSocket<SocketData>,
  topic: string,
  joinRef: string | null,
  extension: string,
  message: string,
): void {
  pushSystemError(ws, topic, joinRef, extension, message);
  pushLifecycle(ws, topic, joinRef, PhoenixEvents.close);
}

/**
 * A modern channel failed: a `system` error saying why, then `phx_error` (the client rejoins with
 * backoff, as when a Phoenix channel process dies).
 */
export function pushErrorAndFail(
  ws: WebSocket<SocketData>,
  topic: string,
  joinRef: string | null,
  extension: string,
  message: string,
): void {
  pushSystemError(ws, topic, joinRef, extension, message);
  pushLifecycle(ws, topic, joinRef, PhoenixEvents.error);
}

/** Fragment size for large frames: well under the 1 MiB single-frame limit of common clients. */
const FRAGMENT_BYTES = 256 * 1024;

/**
 * Sends one text message as several websocket fragments, corked into one write. A socket that
 * already holds more than `maxBackpressureBytes` unsent is closed as a slow consumer instead.
 */
export function sendFragmented(
  ws: WebSocket<SocketData>,
  frame: Buffer,
  maxBackpressureBytes: number,
  slowConsumerCode: number,
): void {
  const data = ws.getUserData();
  if (data.closed) return;
  if (ws.getBufferedAmount() > maxBackpressureBytes) {
    data.closed = true;
    data.closeReason = 'backpressure';
    ws.end(slowConsumerCode, 'slow consumer');
    return;
  }
  ws.cork(() => {
    ws.sendFirstFragment(frame.subarray(0, FRAGMENT_BYTES), false, false);
    let offset = FRAGMENT_BYTES;
    for (; offset + FRAGMENT_BYTES < frame.length; offset += FRAGMENT_BYTES) {
      ws.sendFragment(frame.subarray(offset, offset + FRAGMENT_BYTES), false);
    }
    ws.sendLastFragment(frame.subarray(offset), false);
  });
}
