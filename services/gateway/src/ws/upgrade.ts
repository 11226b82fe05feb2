/**
 * The HTTP upgrade: picks the serialiser from `vsn` (missing means 1.0.0, an unknown version is
 * refused with 403 as Phoenix does), checks the connect token when SECURE_CHANNELS is on (403 with
 * an empty body on failure, as the original server), and builds the socket's typed UserData.
 */
import { codecFor } from '@walcast/protocol';
import type { Logger } from '@walcast/logger';
import { AuthError, malformed } from '../auth/auth-error';
import { connectToken, type TokenVerifier } from '../auth/token-verifier';
import type { GatewayMetrics } from '../metrics';
import type { HttpRequest, HttpResponse } from '../uws';
import { reportRefusal } from './channel-auth';
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
export function socketDataFor(
  request: UpgradeRequest,
  token: string | null = null,
): SocketData | { status: string } {
  const codec = codecFor(request.query.get('vsn'));
  if (!codec) return { status: '403 Forbidden' };
  return {
    id: nextConnectionId++,
    codec,
    channels: new Map(),
    lastInboundAt: Date.now(),
    closed: false,
    remoteAddress: request.remoteAddress,
    closeReason: null,
    connectToken: token,
    inbox: null,
    joinRate: null,
    broadcastRate: null,
  };
}

/**
 * Verifies the connect token of `request`: the token on success, or an HTTP status after logging
 * the refusal once (with its reason code, never the token).
 */
export async function authorizeConnect(
  request: UpgradeRequest,
  verifier: TokenVerifier,
  log: Logger,
  metrics: GatewayMetrics,
): Promise<{ token: string } | { status: string }> {
  const token = connectToken(request.headers.apiKey, request.query);
  try {
    if (token === null) throw malformed('missing');
    await verifier.verify(token);
    return { token };
  } catch (err) {
    if (!(err instanceof AuthError)) throw err;
    reportRefusal(
      { metrics, log },
      'connect',
      err,
      { remoteAddress: request.remoteAddress },
      'connect refused',
    );
    return { status: '403 Forbidden' };
  }
}
