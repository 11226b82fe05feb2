// A broadcast group's filtered members (channels that replayed stored messages): live messages are
// held while the replay is read, then sent after it, minus live copies of replayed ids.
import { codecFor, type BroadcastMessage } from '@walcast/protocol';
import { BusEntry } from './bus-subscriptions';
import type { Frame } from './broadcast-frames';
import { BroadcastGroup, type BroadcastFanout } from './broadcast-group';
import type { MemberSocket } from './delivery-group';

const message = (id: string, n: number): BroadcastMessage => ({
  header: { v: 1, src: 'ingester', shape: 'user', event: 'e', enc: 'json', meta: { id } },
  payloadText: JSON.stringify({ n }),
});

function setup() {
  const sent: Frame[] = [];
  const fanout: BroadcastFanout = { publish: () => undefined, send: (_s, frame) => sent.push(frame) };
  const group = new BroadcastGroup('room', true, new BusEntry('t:x', { topic: 'x' }));
  const ws: MemberSocket = { getUserData: () => ({ codec: codecFor('1.0.0')! }) };
  const ns = (): unknown[] =>
    sent.map((f) => (JSON.parse(f.text!) as { payload: { payload: { n: number } } }).payload.payload.n);
  return { group, fanout, ws, ns, sent };
}

describe('BroadcastGroup filtered members', () => {
  it('hold live messages during the replay, then skip the live copies of replayed ids', () => {
    const { group, fanout, ws, ns } = setup();
    const member = group.addFiltered(ws);
    group.deliver(message('b', 2), fanout, null); // its live copy arrives while the replay is read
    group.deliver(message('c', 3), fanout, null);
    expect(ns()).toEqual([]);
    group.replay(member, [message('a', 1), message('b', 2)], fanout);
    expect(ns()).toEqual([1, 2, 3]);
    group.deliver(message('a', 1), fanout, null); // a late live copy
    group.deliver(message('d', 4), fanout, null);
    expect(ns()).toEqual([1, 2, 3, 4]);
  });

  it('marks replayed messages in their metadata as given', () => {
    const { group, fanout, ws, sent } = setup();
    const member = group.addFiltered(ws);
    const replayed = message('a', 1);
    replayed.header.meta = { id: 'a', replayed: true };
    group.replay(member, [replayed], fanout);
    expect(JSON.parse(sent[0]!.text!)).toMatchObject({ payload: { meta: { id: 'a', replayed: true } } });
  });

  it('a group with a pending join or a filtered member is not empty', () => {
    const { group, ws } = setup();
    group.pin();
    expect(group.size).toBe(1);
    group.unpin();
    group.addFiltered(ws);
    expect(group.size).toBe(1);
    group.remove(ws);
    expect(group.size).toBe(0);
  });
});
