/**
 * Replaying the history to one socket that joined with `since`: every change of the channel's
 * tables after that position, matched, authorized and encoded exactly as live changes are (it goes
 * through a copy of the channel's group that only this socket is a member of), then the live frames
 * the group held for the socket meanwhile, minus those the replay already sent. The socket is
 * subscribed to the live group only after that, in the same turn, so nothing falls between the two
 * and nothing is sent twice.
 *
 * If the history no longer holds everything after `since` (trimmed, Redis lost its data, history
 * off), nothing is replayed and the outcome names the oldest position it still holds: the
 * application refetches once, and the channel goes on live.
 */
import { comparePositions, formatPosition, parsePosition, type Position } from '@walcast/protocol';
import type { History } from '@walcast/bus';
import type { BusEntry } from './bus-subscriptions';
import {
  incomingChange,
  tableKeyOf,
  type DeliveryGroup,
  type Fanout,
  type IncomingChange,
  type MemberSocket,
} from './delivery-group';

export type ReplayOutcome =
  | { kind: 'replayed'; changes: number; lastByTable: Map<string, string> }
  | { kind: 'gap'; oldest: string | null }
  /** The socket left, or moved to another group, meanwhile. */
  | { kind: 'abandoned' };

export interface ReplayRequest {
  /** The live group the socket joined (resuming in it: its frames are held). */
  group: DeliveryGroup;
  /** The copy the history goes through (the socket is its only member). */
  replayGroup: DeliveryGroup;
  socket: MemberSocket;
  /** The earliest `since` of the socket's bindings: the history after it is read. */
  since: string;
  /** Whether the socket still waits for this replay. */
  active(): boolean;
}

/** Entries read from the history per request. */
const PAGE = 1000;

export async function replayHistory(
  history: History,
  request: ReplayRequest,
  fanout: Fanout,
): Promise<ReplayOutcome> {
  const { group, replayGroup, socket } = request;
  const since = parsePosition(request.since)!;
  const direct: Fanout = {
    publish: (_topic, frame) => fanout.send(socket, frame),
    sendLarge: (_sockets, frame) => fanout.send(socket, frame),
    send: (_socket, frame) => fanout.send(socket, frame),
  };
  const sources: Array<{ entry: BusEntry; topic: string }> = [];
  for (const entry of group.busEntries) {
    const { key } = entry;
    const topics = key.topic !== undefined ? [key.topic] : await history.topics(key.pattern);
    for (const topic of topics) sources.push({ entry, topic });
  }
  let oldest: Position | null = null;
  let gap = false;
  for (const { topic } of sources) {
    const coverage = await history.covers(topic, since);
    if (coverage.covered) continue;
    gap = true;
    const held = parsePosition(coverage.oldest);
    if (held && (!oldest || comparePositions(held, oldest) < 0)) oldest = held;
  }
  if (!request.active()) return { kind: 'abandoned' };
  if (gap) return { kind: 'gap', oldest: oldest ? formatPosition(oldest.lsn, oldest.index) : null };
  replayGroup.add(socket);
  const lastByTable = new Map<string, string>();
  let changes = 0;
  for (const { entry, topic } of sources) {
    let after = since;
    for (;;) {
      const page = await history.read(topic, after, PAGE);
      if (!request.active()) return { kind: 'abandoned' };
      for (const record of page) {
        let change: IncomingChange;
        try {
          change = incomingChange(topic, record.message);
        } catch {
          continue; // not a change this gateway can read: live delivery drops it too
        }
        if (change.header.pos !== undefined) lastByTable.set(tableKeyOf(change), change.header.pos);
        replayGroup.deliver(change, direct, entry);
        changes++;
      }
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.position;
    }
  }
  // With row authorization, verdicts may still be on their way: the replay ends once all are sent.
  await replayGroup.rowAccess?.whenIdle();
  if (!request.active()) return { kind: 'abandoned' };
  return { kind: 'replayed', changes, lastByTable };
}
