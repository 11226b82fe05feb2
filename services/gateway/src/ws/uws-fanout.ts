/**
 * How frames leave the gateway through uWS: topic publishing (the per-socket work in C++), one
 * socket's send, and fragmented sends of frames too large for one websocket frame. Counted in
 * `walcast_gateway_frames_out_total` and `walcast_gateway_bytes_out_total`.
 */
import { ErrorCodes } from '@walcast/protocol';
import type { BroadcastFanout } from '../channels/broadcast-group';
import { LARGE_FRAME_CHARS, type Fanout } from '../channels/delivery-group';
import type { GatewayMetrics } from '../metrics';
import type { TemplatedApp } from '../uws';
import { sendFragmented, sendFrame } from './frames';
import { gatewaySocket } from './socket-data';

/** The fan-out of change frames (postgres_changes and legacy channels). */
export function changeFanout(
  app: TemplatedApp,
  metrics: GatewayMetrics,
  maxBackpressureBytes: number,
): Fanout {
  return {
    publish: (topic, frame) => {
      const sockets = app.numSubscribers(topic);
      if (sockets === 0) return;
      app.publish(topic, frame, false, false);
      metrics.framesOut.inc(sockets);
      metrics.bytesOut.inc(sockets * Buffer.byteLength(frame));
    },
    sendLarge: (sockets, frame) => {
      const bytes = Buffer.from(frame);
      for (const ws of sockets) {
        sendFragmented(gatewaySocket(ws), bytes, maxBackpressureBytes, ErrorCodes.SlowConsumer.close);
        metrics.framesOut.inc();
        metrics.bytesOut.inc(bytes.length);
      }
    },
    send: (member, frame) => {
      const ws = gatewaySocket(member);
      if (frame.length > LARGE_FRAME_CHARS) {
        const bytes = Buffer.from(frame);
        sendFragmented(ws, bytes, maxBackpressureBytes, ErrorCodes.SlowConsumer.close);
        metrics.bytesOut.inc(bytes.length);
      } else {
        sendFrame(ws, frame);
        metrics.bytesOut.inc(Buffer.byteLength(frame));
      }
      metrics.framesOut.inc();
    },
  };
}

/** The fan-out of broadcast and presence frames, text or binary. */
export function broadcastFanout(
  app: TemplatedApp,
  metrics: GatewayMetrics,
  maxBackpressureBytes: number,
): BroadcastFanout {
  return {
    publish: (topic, frame, exclude) => {
      const sockets = app.numSubscribers(topic) - (exclude ? 1 : 0);
      if (sockets <= 0) return;
      const body = frame.text ?? frame.binary;
      const isBinary = frame.binary !== undefined;
      // A socket publishing is left out of its own message (config.broadcast.self false); one that
      // closed meanwhile is no longer subscribed.
      const sender = exclude ? gatewaySocket(exclude) : null;
      if (sender && !sender.getUserData().closed) sender.publish(topic, body, isBinary, false);
      else app.publish(topic, body, isBinary, false);
      metrics.framesOut.inc(sockets);
      metrics.bytesOut.inc(sockets * (frame.binary?.length ?? Buffer.byteLength(frame.text!)));
    },
    send: (member, frame) => {
      const ws = gatewaySocket(member);
      if (frame.binary) {
        sendFrame(ws, frame.binary, true);
        metrics.bytesOut.inc(frame.binary.length);
      } else if (frame.text.length > LARGE_FRAME_CHARS) {
        const bytes = Buffer.from(frame.text);
        sendFragmented(ws, bytes, maxBackpressureBytes, ErrorCodes.SlowConsumer.close);
        metrics.bytesOut.inc(bytes.length);
      } else {
        sendFrame(ws, frame.text);
        metrics.bytesOut.inc(Buffer.byteLength(frame.text));
      }
      metrics.framesOut.inc();
    },
  };
}
