/**
 * The bus envelope: what one Redis PUBLISH carries. Two JSON documents joined by a newline: the
 * header, then the change event exactly as the ingester serialised it. The header never contains a
 * raw newline (JSON.stringify escapes them), so the first `\n` always ends it; the event text may
 * itself contain newlines (a `json` column keeps its input whitespace). The gateway reads the header
 * without touching the event and splices the event text into frames.
 *
 * Versioned so that mixed-version rollouts degrade loudly: a gateway drops (and counts) envelopes
 * whose `v` it does not know. Only `encodeBusMessage`/`decodeBusMessage` build or parse this format.
 */
import { isChangeType, type ChangeType } from './change-event';
import type { LogCode } from './log-codes';

export const BUS_MESSAGE_VERSION = 1;

export interface BusHeader {
  v: typeof BUS_MESSAGE_VERSION;
  /** The publishing ingester instance (unique per process start). */
  src: string;
  /** Per (src, topic) counter starting at 1; a jump means Redis pub/sub dropped something. */
  seq: number;
  /** The transaction's commit LSN as PostgreSQL prints it (`16/B374D848`); with `seq`, identifies a change. */
  lsn: string;
  /** The change's `type`, so unfiltered channels need not parse the event. */
  type: ChangeType;
  /** The table's primary key columns (a `select` column list always keeps them); absent if none. */
  pk?: string[];
  /** When the ingester published it (milliseconds since the epoch), for publish-to-send latency. */
  ts?: number;
  /** The change's position (position.ts): its place in the stream, also its history entry. */
  pos?: string;
}

export interface BusMessage {
  header: BusHeader;
  /** The change event's JSON text, byte for byte as published. */
  eventJson: string;
}

export class BusMessageError extends Error {
  constructor(
    readonly code: Extract<LogCode, 'MalformedEnvelope' | 'UnknownVersion'>,
    message: string,
  ) {
    super(message);
    this.name = 'BusMessageError';
  }
}

/**
 * The JSON of the last `src` and `pk` serialised: an ingester sends the same source on every
 * message and the same key array (one object per table) on every change of a table.
 */
let lastSrc = '';
let lastSrcJson = '""';
let lastPk: readonly string[] | undefined;
let lastPkJson = '';

/**
 * Serialises one envelope. `eventJson` must be a JSON object's text. `header.pk` is recognised by
 * identity: an array passed here must not be changed afterwards.
 */
export function encodeBusMessage(header: BusHeader, eventJson: string): string {
  if (header.src !== lastSrc) {
    lastSrc = header.src;
    lastSrcJson = JSON.stringify(header.src);
  }
  if (header.pk !== lastPk) {
    lastPk = header.pk;
    lastPkJson = header.pk && header.pk.length > 0 ? `,"pk":${JSON.stringify(header.pk)}` : '';
  }
  const ts = header.ts !== undefined ? `,"ts":${header.ts}` : '';
  const pos = header.pos !== undefined ? `,"pos":"${header.pos}"` : '';
  return `{"v":${header.v},"src":${lastSrcJson},"seq":${header.seq},"lsn":"${header.lsn}","type":"${header.type}"${lastPkJson}${ts}${pos}}\n${eventJson}`;
}

/** Parses one envelope; throws {@link BusMessageError} for anything this version cannot trust. */
export function decodeBusMessage(text: string): BusMessage {
  const newline = text.indexOf('\n');
  if (newline < 0) throw new BusMessageError('MalformedEnvelope', 'bus message has no header line');
  let header: unknown;
  try {
    header = JSON.parse(text.slice(0, newline));
  } catch {
    throw new BusMessageError('MalformedEnvelope', 'bus message header is not JSON');
  }
  if (typeof header !== 'object' || header === null) {
    throw new BusMessageError('MalformedEnvelope', 'bus message header is not an object');
  }
  const h = header as Record<string, unknown>;
  if (h.v !== BUS_MESSAGE_VERSION) {
    throw new BusMessageError('UnknownVersion', `bus message version ${String(h.v)} is not supported`);
  }
  if (
    typeof h.src !== 'string' ||
    typeof h.seq !== 'number' ||
    typeof h.lsn !== 'string' ||
    !isChangeType(h.type) ||
    (h.pk !== undefined && (!Array.isArray(h.pk) || !h.pk.every((k) => typeof k === 'string'))) ||
    (h.ts !== undefined && typeof h.ts !== 'number') ||
    (h.pos !== undefined && typeof h.pos !== 'string')
  ) {
    throw new BusMessageError('MalformedEnvelope', 'bus message header lacks src, seq, lsn or type');
  }
  const eventJson = text.slice(newline + 1);
  if (eventJson.charCodeAt(0) !== 0x7b /* { */) {
    throw new BusMessageError('MalformedEnvelope', 'bus message event is not a JSON object');
  }
  return { header: h as unknown as BusHeader, eventJson };
}
