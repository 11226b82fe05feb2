/**
 * The HTTP upgrade: picks the serialiser from `vsn` (missing means 1.0.0, an unknown version is
 * refused with 403 as Phoenix does) and builds the socket's typed UserData. Token checks (issue:
 * channel authorization) hook in here, before any websocket exists.
 */
import { codecFor } from '@walcast/protocol';
import type { HttpRequest, HttpResponse } from '../uws';
import type { SocketData } from './socket-data';

/** What the upgrade reads from the request, copied out synchronously (uWS invalidates `req` after the handler returns). */
export interface UpgradeRequest {
  query: URLSearchParams;
  headers: { apiKey: string; secKey: string; secProtocol: string; secExtensions: string };
  remoteAddress: string;
}

export function readUpgradeRequest(res: HttpResponse, req: HttpRequest): UpgradeRequest {
  return {
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers: {
      apiKey: req.getHeader('x-api-key'),
      secKey: req.getHeader('sec-websocket-key'),
      secProtocol: req.getHeader('sec-websocket-protocol'),
      secExtensions: req.getHeader('sec-websocket-extensions'),
    },
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

let nextConnectionId = 1;

/** UserData for an accepted request, or the HTTP status to refuse it with. */
export function socketDataFor(request: UpgradeRequest): SocketData | { status: string } {
  const codec = codecFor(request.query.get('vsn'));
  if (!codec) return { status: '403 Forbidden' };
  return {
    id: nextConnectionId++,
    codec,
    channels: new Map(),
    lastInboundAt: Date.now(),
    closed: false,
    remoteAddress: request.remoteAddress,
  };
}
