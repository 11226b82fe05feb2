/**
 * The REST broadcast API of Supabase Realtime (docs/rest-broadcast.md), on the gateway's public
 * uWS app, under `/api` and `/realtime/v1/api`:
 *
 * - `POST /api/broadcast`: a batch `{"messages":[{topic, event, payload, private?, id?}]}`, each
 *   delivered as the client map `{"payload":P,"event":E,"type":"broadcast"}` (+ `meta.id`);
 * - `POST /api/broadcast/:topic/events/:event[?private=true]`: one JSON object or
 *   `application/octet-stream` bytes, delivered as a user broadcast (kind 4 at vsn 2.0.0).
 *
 * Order of checks, cheapest first, so that a hostile request costs little and others nothing:
 * content type (415, single only) → body length (413, refused without reading it all) → token (401,
 * when SECURE_CHANNELS) → JSON (400) and fields (422) → MAX_REST_BROADCASTS_PER_SECOND (429, one
 * bucket per gateway, each message counted) → private topics (the `privateWrite` hook, once per
 * topic per request) → {@link BroadcastRegistry.send} → 202 once Redis took every message (503 if
 * it did not).
 *
 * Private messages the caller may not write are dropped and counted (`unauthorized`): silently in a
 * batch (still 202, as the reference), with 403 `{"message":"Unauthorized"}` for a single one (as
 * the reference's single endpoint). With no hook, no private message is ever sent.
 *
 * Lifecycle: none; `addRoutes` before the app's catch-all 404. Invariant: `res` is never touched
 * after `onAborted` (every answer goes through {@link Answer}).
 */
import type { Logger } from '@walcast/logger';
import { LogThrottle } from '@walcast/logger';
import { AuthError, malformed } from '../auth/auth-error';
import type { TokenVerifier } from '../auth/token-verifier';
import type { BroadcastRegistry, OutgoingBroadcast } from '../channels/broadcast-registry';
import { TokenBucket } from '../channels/token-bucket';
import type { GatewayMetrics, RestStatus } from '../metrics';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../uws';
import { reportRefusal } from '../ws/channel-auth';
import {
  UNSUPPORTED_MEDIA_TYPE,
  parseBatch,
  parseSingle,
  singleBodyKind,
  type BroadcastLimits,
  type Refusal,
} from './broadcast-request';
import { readBody } from './read-body';

/** May the caller (its verified claims; null without SECURE_CHANNELS) write to private `subtopic`? */
export type PrivateWrite = (claims: Record<string, unknown> | null, subtopic: string) => Promise<boolean>;

export interface RestBroadcastOptions {
  broadcasts: Pick<BroadcastRegistry, 'send'>;
  /** Null when SECURE_CHANNELS is off: no token is needed (nor checked). */
  verifier: TokenVerifier | null;
  /** Null: every private message is refused (dropped in a batch, 403 alone). */
  privateWrite: PrivateWrite | null;
  limits: BroadcastLimits & { maxBodyBytes: number; maxBroadcastsPerSecond: number };
  metrics: GatewayMetrics;
  log: Logger;
  now?: () => number;
}

/** Where realtime-js finds the API: `/api/broadcast` beside `/socket`, or under `/realtime/v1`. */
export const REST_BROADCAST_PREFIXES = ['', '/realtime/v1'] as const;

/** Request headers browsers may send cross-origin: what supabase-js sends (its `cors` module). */
export const CORS_ALLOWED_HEADERS =
  'authorization, x-client-info, apikey, content-type, x-retry-count, traceparent, tracestate, baggage';

const STATUS_LINES: Record<RestStatus, string> = {
  '202': '202 Accepted',
  '400': '400 Bad Request',
  '401': '401 Unauthorized',
  '403': '403 Forbidden',
  '404': '404 Not Found',
  '413': '413 Payload Too Large',
  '415': '415 Unsupported Media Type',
  '422': '422 Unprocessable Entity',
  '429': '429 Too Many Requests',
  '500': '500 Internal Server Error',
  '503': '503 Service Unavailable',
};

const message = (text: string): string => JSON.stringify({ message: text });
const UNAUTHORIZED = message('Unauthorized');
const RATE_EXCEEDED = message('You have exceeded your rate limit');
const BATCH_TOO_BIG = message('Too many messages to broadcast, please reduce the batch size');

/** What a handler copies out of `req` synchronously (uWS invalidates it when the handler returns). */
interface RestRequest {
  authorization: string;
  apiKey: string;
  contentType: string;
  contentLength: string;
  remoteAddress: string;
}

/** The one way a response is written: once, corked, with CORS, never after an abort; counted. */
class Answer {
  private isAborted = false;
  private isSent = false;

  constructor(
    private readonly res: HttpResponse,
    private readonly metrics: GatewayMetrics,
  ) {
    res.onAborted(() => (this.isAborted = true));
  }

  /** `closeConnection` when the body may still be arriving (it is not read further). */
  send(status: RestStatus, body = '', closeConnection = false): void {
    if (this.isSent) return;
    this.isSent = true;
    this.metrics.restRequests.inc({ status });
    if (this.isAborted) return;
    this.res.cork(() => {
      this.res.writeStatus(STATUS_LINES[status]).writeHeader('access-control-allow-origin', '*');
      if (body !== '') this.res.writeHeader('content-type', 'application/json');
      this.res.end(body, closeConnection);
    });
  }

  refuse(refusal: Refusal): void {
    this.send(String(refusal.status) as RestStatus, refusal.body);
  }
}

export class RestBroadcastApi {
  private readonly rate: TokenBucket;
  private readonly now: () => number;
  private readonly throttle = new LogThrottle({ max: 5, windowMs: 60_000 });

  constructor(private readonly opts: RestBroadcastOptions) {
    this.now = opts.now ?? Date.now;
    this.rate = new TokenBucket(opts.limits.maxBroadcastsPerSecond, this.now());
  }

  /** Adds the routes to `app`; call before the app's catch-all. */
  addRoutes(app: TemplatedApp): void {
    for (const prefix of REST_BROADCAST_PREFIXES) {
      app.post(`${prefix}/api/broadcast`, (res, req) => this.onBatch(res, req));
      app.post(`${prefix}/api/broadcast/:topic/events/:event`, (res, req) => this.onSingle(res, req));
      app.options(`${prefix}/api/broadcast`, preflight);
      app.options(`${prefix}/api/broadcast/*`, preflight);
    }
  }

  private onBatch(res: HttpResponse, req: HttpRequest): void {
    const request = readRequest(res, req);
    const answer = new Answer(res, this.opts.metrics);
    const body = readBody(res, request.contentLength, this.opts.limits.maxBodyBytes);
    this.run(answer, async () => {
      const read = await body;
      if ('refused' in read) return answer.send('413', message('Request body too large'), true);
      const auth = await this.authorize(request);
      if (auth === 'refused') return answer.send('401', UNAUTHORIZED);
      const parsed = parseBatch(read.body.toString('utf8'), this.opts.limits);
      if (!('messages' in parsed)) return answer.refuse(parsed);
      const { messages } = parsed;
      const rate = this.rate.takeMany(this.now(), messages.length);
      if (rate !== 'ok') return this.rateRefused(answer, rate, messages.length);
      const allowed = await this.writableTopics(messages, auth.claims);
      const sendable = messages.filter((m) => !m.isPrivate || allowed.has(m.subtopic));
      this.opts.metrics.broadcastsDropped.inc({ reason: 'unauthorized' }, messages.length - sendable.length);
      await this.deliver(answer, sendable);
    });
  }

  private onSingle(res: HttpResponse, req: HttpRequest): void {
    const request = readRequest(res, req);
    const rawTopic = req.getParameter(0);
    const rawEvent = req.getParameter(1);
    const isPrivate = /(?:^|&)private=true(?:&|$)/.test(req.getQuery() ?? '');
    const answer = new Answer(res, this.opts.metrics);
    const kind = singleBodyKind(request.contentType);
    if (kind === null) return answer.send('415', UNSUPPORTED_MEDIA_TYPE, true);
    const body = readBody(res, request.contentLength, this.opts.limits.maxBodyBytes);
    this.run(answer, async () => {
      const read = await body;
      if ('refused' in read) return answer.send('413', message('Request body too large'), true);
      const auth = await this.authorize(request);
      if (auth === 'refused') return answer.send('401', UNAUTHORIZED);
      const subtopic = decodeSegment(rawTopic);
      const event = decodeSegment(rawEvent);
      const out = parseSingle({ subtopic, event, isPrivate, kind, body: read.body }, this.opts.limits);
      if (!('payloadText' in out)) return answer.refuse(out);
      const rate = this.rate.takeMany(this.now(), 1);
      if (rate !== 'ok') return this.rateRefused(answer, 'empty', 1);
      const mayWrite = isPrivate ? await this.mayWrite(auth.claims, subtopic) : true;
      if (mayWrite !== true) {
        this.opts.metrics.broadcastsDropped.inc({ reason: 'unauthorized' });
        if (mayWrite === 'error') return answer.send('500', message('Unable to authorize broadcast'));
        return answer.send('403', UNAUTHORIZED);
      }
      await this.deliver(answer, [out]);
    });
  }

  /** Runs a request's steps; an unexpected failure is logged and answered 500. */
  private run(answer: Answer, steps: () => Promise<void>): void {
    steps().catch((err: unknown) => {
      this.opts.log.error({ err, code: 'InternalError' }, 'REST broadcast failed');
      answer.send('500', message('Internal server error'));
    });
  }

  /** The caller's claims (null when SECURE_CHANNELS is off), or 'refused' (logged and counted). */
  private async authorize(
    request: RestRequest,
  ): Promise<{ claims: Record<string, unknown> | null } | 'refused'> {
    const { verifier } = this.opts;
    if (!verifier) return { claims: null };
    const token = requestToken(request.authorization, request.apiKey);
    try {
      if (token === null) throw malformed('missing');
      const verified = await verifier.verify(token);
      return { claims: { ...verified.claims } };
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      reportRefusal(
        this.opts,
        'rest',
        err,
        { remoteAddress: request.remoteAddress },
        'REST broadcast refused',
      );
      return 'refused';
    }
  }

  /** The private topics of `messages` the caller may write to: the hook asked once per topic, in turn. */
  private async writableTopics(
    messages: readonly OutgoingBroadcast[],
    claims: Record<string, unknown> | null,
  ): Promise<Set<string>> {
    const allowed = new Set<string>();
    const topics = new Set(messages.filter((m) => m.isPrivate).map((m) => m.subtopic));
    for (const topic of topics) if ((await this.mayWrite(claims, topic)) === true) allowed.add(topic);
    return allowed;
  }

  /** The hook's verdict (no hook: false), or 'error' when it failed (logged, throttled). */
  private async mayWrite(
    claims: Record<string, unknown> | null,
    subtopic: string,
  ): Promise<boolean | 'error'> {
    const { privateWrite } = this.opts;
    if (!privateWrite) return false;
    try {
      return await privateWrite(claims, subtopic);
    } catch (err) {
      this.throttle.warn(
        this.opts.log,
        { err, code: 'WritePermissionUnavailable' },
        'could not check the write permission of a private REST broadcast; it was refused',
      );
      return 'error';
    }
  }

  private rateRefused(answer: Answer, rate: 'short' | 'empty', count: number): void {
    this.opts.metrics.broadcastsDropped.inc({ reason: 'rate' }, count);
    answer.send('429', rate === 'empty' ? RATE_EXCEEDED : BATCH_TOO_BIG);
  }

  /** Sends every message (local subscribers at once, other gateways through Redis); 202 once Redis took them. */
  private async deliver(answer: Answer, messages: readonly OutgoingBroadcast[]): Promise<void> {
    try {
      await Promise.all(messages.map((m) => this.opts.broadcasts.send(m, null, 'rest')));
    } catch (err) {
      this.throttle.warn(this.opts.log, { err, code: 'BusUnavailable' }, 'REST broadcast not published');
      answer.send('503', message('Unable to broadcast, try again'));
      return;
    }
    answer.send('202');
  }
}

/** The CORS preflight: any origin, POST, the headers supabase-js sends; cached for a day. */
function preflight(res: HttpResponse): void {
  res
    .writeStatus('204 No Content')
    .writeHeader('access-control-allow-origin', '*')
    .writeHeader('access-control-allow-methods', 'POST, OPTIONS')
    .writeHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS)
    .writeHeader('access-control-max-age', '86400')
    .endWithoutBody();
}

function readRequest(res: HttpResponse, req: HttpRequest): RestRequest {
  return {
    authorization: req.getHeader('authorization'),
    apiKey: req.getHeader('apikey'),
    contentType: req.getHeader('content-type'),
    contentLength: req.getHeader('content-length'),
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
}

/** `Authorization: Bearer <token>`, else the `apikey` header, as the reference's AuthTenant plug; null if neither. */
export function requestToken(authorization: string, apiKey: string): string | null {
  const bearer = /^bearer\s+(\S+)\s*$/i.exec(authorization.trim());
  if (bearer) return bearer[1]!;
  const key = apiKey.trim();
  return key === '' ? null : key;
}

/** A path segment, percent-decoded (realtime-js encodes topic and event); undecodable stays as is. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not valid percent-encoding: the caller gets the bytes it sent as the name
  }
}
