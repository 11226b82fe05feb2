// Invariant I4 (docs/architecture.md): a change is encoded once per delivery group and protocol
// version, never once per socket, and the event text from Redis is spliced, not re-serialised.
import { MemoryBus } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { v1Codec, v2Codec, type PhoenixCodec } from '@walcast/protocol';
import { RowFilter } from '../filters/row-filter';
import { BusSubscriptions } from './bus-subscriptions';
import { LARGE_FRAME_CHARS, type Fanout, type IncomingChange, type MemberSocket } from './delivery-group';
import { LegacyGroup } from './legacy-group';

/** Only what a delivery group reads of a socket: its codec. */
const socket = (codec: PhoenixCodec): MemberSocket =>
  ({ getUserData: () => ({ codec }) }) as unknown as MemberSocket;

function recordingFanout() {
  const published: Array<{ uwsTopic: string; frame: string }> = [];
  const large: Array<{ sockets: number; frame: string }> = [];
  const fanout: Fanout = {
    publish: (uwsTopic, frame) => published.push({ uwsTopic, frame }),
    sendLarge: (sockets, frame) => large.push({ sockets: [...sockets].length, frame }),
    send: (_socket, frame) => large.push({ sockets: 1, frame }),
  };
  return { fanout, published, large };
}

function change(eventJson: string): IncomingChange {
  return {
    header: { v: 1, src: 's', seq: 1, lsn: '0/1', type: 'INSERT' },
    eventJson,
    schema: 'public',
    table: 'users',
    parsed: () => JSON.parse(eventJson) as ReturnType<IncomingChange['parsed']>,
  };
}

function groupWith(sockets: number) {
  const subs = new BusSubscriptions(new MemoryBus(), {
    warn: jest.fn(),
    debug: jest.fn(),
  } as unknown as Logger);
  const group = new LegacyGroup('realtime:public:users', subs.acquire({ topic: 't' }), new RowFilter([]));
  for (let i = 0; i < sockets; i++) group.add(socket(i % 2 === 0 ? v1Codec : v2Codec));
  return group;
}

describe('DeliveryGroup fan-out (I4)', () => {
  it('encodes and publishes a change once per protocol version, whatever the number of sockets', () => {
    const encodeV1 = jest.spyOn(v1Codec, 'encodeWithRawPayload');
    const encodeV2 = jest.spyOn(v2Codec, 'encodeWithRawPayload');
    const group = groupWith(1000);
    const { fanout, published, large } = recordingFanout();
    // Key order and spacing a re-serialisation would change.
    const eventJson = '{"type":"INSERT", "record":{"id":1},"schema":"public"}';
    group.deliver(change(eventJson), fanout);

    expect(encodeV1).toHaveBeenCalledTimes(1);
    expect(encodeV2).toHaveBeenCalledTimes(1);
    expect(published.map((p) => p.uwsTopic).sort()).toEqual([
      group.uwsTopic('1.0.0'),
      group.uwsTopic('2.0.0'),
    ]);
    for (const { frame } of published) expect(frame).toContain(eventJson);
    expect(large).toEqual([]);
    encodeV1.mockRestore();
    encodeV2.mockRestore();
  });

  it('encodes nothing for a protocol version without members', () => {
    const group = groupWith(1);
    const { fanout, published } = recordingFanout();
    group.deliver(change('{"type":"INSERT"}'), fanout);
    expect(published.map((p) => p.uwsTopic)).toEqual([group.uwsTopic('1.0.0')]);
  });

  it('sends a frame too large for one websocket frame once per version, to all its members', () => {
    const group = groupWith(10);
    const { fanout, published, large } = recordingFanout();
    const eventJson = `{"type":"INSERT","record":{"big":"${'x'.repeat(LARGE_FRAME_CHARS)}"}}`;
    group.deliver(change(eventJson), fanout);
    expect(published).toEqual([]);
    expect(large.map((l) => l.sockets)).toEqual([5, 5]);
  });
});

describe('DeliveryGroup resuming members', () => {
  const at = (id: number, pos: string): IncomingChange => ({
    ...change(`{"type":"INSERT","record":{"id":${id}}}`),
    header: { v: 1, src: 's', seq: id, lsn: '0/1', type: 'INSERT', pos },
  });
  const p = (n: number) => `0000000000000${String(n).padStart(3, '0')}-00000000`;

  it('holds the frames of a resuming member, then gives back those its replay did not cover, in order', () => {
    const group = groupWith(0);
    const resuming = socket(v1Codec);
    group.add(resuming);
    group.startResuming(resuming);
    expect(group.size).toBe(1);
    const { fanout, published } = recordingFanout();
    for (const [id, pos] of [
      [1, p(100)],
      [2, p(200)],
      [3, p(300)],
    ] as const)
      group.deliver(at(id, pos), fanout);
    group.pushToMembers(fanout, 'system', { notice: true });
    expect(published).toEqual([]); // nobody live: nothing published
    const frames = group.finishResuming(resuming, new Map([['public\u0000users', p(200)]]), p(50));
    expect(frames).toHaveLength(2);
    expect(frames![0]).toContain('"id":3');
    expect(frames![1]).toContain('"notice":true');
    expect(group.isResuming(resuming)).toBe(false);
    group.deliver(at(4, p(400)), fanout);
    expect(published.map((x) => x.uwsTopic)).toEqual([group.uwsTopic('1.0.0')]);
  });

  it('drops held frames at or before `since`, and forgets a member removed while resuming', () => {
    const group = groupWith(1);
    const resuming = socket(v2Codec);
    group.startResuming(resuming);
    const { fanout } = recordingFanout();
    group.deliver(at(1, p(100)), fanout);
    group.deliver(at(2, p(200)), fanout);
    const frames = group.finishResuming(resuming, new Map(), p(100));
    expect(frames).toHaveLength(1);
    expect(frames![0]).toContain('"id":2');
    const gone = socket(v1Codec);
    group.startResuming(gone);
    group.remove(gone);
    expect(group.isResuming(gone)).toBe(false);
    expect(group.memberSockets()).not.toContain(gone);
  });
});
