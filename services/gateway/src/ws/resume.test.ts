// Catch-up and resume in the channel core (see channel-core-kit.ts): the memory bus keeps a history
// like the ingester's, drops messages while a subscriber is "cut off", and reports state changes.
import { flush, setup } from './channel-core-kit';

const TOPIC = 'realtime:public:users';

/** The ids of the INSERT frames a socket received, in order, and whether it got phx_error. */
function seen(ws: { frames(): unknown[] }) {
  const frames = ws.frames() as Array<{ event: string; payload: { record?: { id: number } } }>;
  return {
    ids: frames.filter((f) => f.event === 'INSERT').map((f) => f.payload.record!.id),
    errored: frames.some((f) => f.event === 'phx_error'),
  };
}

async function joined(kit: ReturnType<typeof setup>, payload: Record<string, unknown> = {}) {
  const ws = kit.socket();
  kit.send(ws, { topic: TOPIC, event: 'phx_join', payload, ref: '1' });
  await flush();
  return ws;
}

describe('catching up from the history', () => {
  it('after a lost connection, delivers what was missed, then what arrived meanwhile, in order, once', async () => {
    const kit = setup({ history: true });
    const ws = await joined(kit);
    await kit.insert(1);
    await flush();
    kit.bus.setState('reconnecting');
    kit.bus.dropping = true;
    await kit.insert(2);
    await kit.insert(3);
    kit.bus.dropping = false;
    await kit.insert(4); // arrives while still catching up: held
    await flush();
    expect(seen(ws).ids).toEqual([1]);
    kit.bus.setState('ready');
    await flush();
    expect(seen(ws)).toEqual({ ids: [1, 2, 3, 4], errored: false });
    await kit.insert(5);
    await flush();
    expect(seen(ws).ids).toEqual([1, 2, 3, 4, 5]);
  });

  it('fills a gap in a sequence from the history', async () => {
    const kit = setup({ history: true });
    const ws = await joined(kit);
    await kit.insert(1);
    kit.bus.dropping = true;
    await kit.insert(2);
    kit.bus.dropping = false;
    await kit.insert(3);
    await flush();
    expect(seen(ws)).toEqual({ ids: [1, 2, 3], errored: false });
    const { values } = await kit.metrics.catchUps.get();
    expect(values.find((v) => v.labels.result === 'ok')?.value).toBe(1);
  });

  it('ends the channels with phx_error when the history was lost with Redis', async () => {
    const kit = setup({ history: true });
    const ws = await joined(kit);
    await kit.insert(1);
    await flush();
    kit.bus.setState('reconnecting');
    kit.bus.history.clear();
    kit.bus.setState('ready');
    await flush();
    expect(seen(ws)).toEqual({ ids: [1], errored: true });
  });

  it('without a history, a lost connection ends the channels with phx_error', async () => {
    const kit = setup();
    const ws = await joined(kit);
    await kit.insert(1);
    kit.bus.setState('reconnecting');
    kit.bus.setState('ready');
    await flush();
    expect(seen(ws)).toEqual({ ids: [1], errored: true });
  });

  it('holds only table subscriptions: broadcast topics have no history', async () => {
    const kit = setup({ history: true });
    const ws = kit.socket('2.0.0');
    kit.send(ws, [
      '1',
      '1',
      'realtime:room',
      'phx_join',
      { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'users' }] } },
    ]);
    await flush();
    kit.bus.setState('reconnecting');
    const held = [...kit.subscriptions.all()].map((e) => [e.id, e.held !== null]);
    expect(held).toHaveLength(2);
    for (const [id, isHeld] of held) expect(isHeld).toBe(String(id).includes(':table:'));
    kit.bus.setState('ready');
    await flush();
    expect([...kit.subscriptions.all()].every((e) => e.held === null)).toBe(true);
  });

  it('sends a change published twice (an ingester restart) once', async () => {
    const kit = setup({ history: true });
    const ws = await joined(kit);
    await kit.insert(1);
    await kit.insert(1, true);
    await kit.insert(2);
    await flush();
    expect(seen(ws).ids).toEqual([1, 2]);
  });
});

describe('joins with since', () => {
  it('a legacy join replays what followed its position, then goes live', async () => {
    const kit = setup({ history: true });
    for (const id of [1, 2, 3]) await kit.insert(id);
    const ws = await joined(kit, { since: '0000000000000001-00000000' });
    await flush();
    expect(seen(ws).ids).toEqual([2, 3]);
    await kit.insert(4);
    await flush();
    expect(seen(ws)).toEqual({ ids: [2, 3, 4], errored: false });
  });

  it('a HistoryGap when the history starts after since, then live changes', async () => {
    const kit = setup({ history: true });
    await kit.insert(5);
    const ws = await joined(kit, { since: '0000000000000001-00000000' });
    await flush();
    const system = (ws.frames() as Array<{ event: string; payload: { message?: string } }>).filter(
      (f) => f.event === 'system',
    );
    expect(system.at(-1)!.payload.message).toMatch(
      /^HistoryGap: changes after 0000000000000001-00000000 are no longer all held/,
    );
    await kit.insert(6);
    await flush();
    expect(seen(ws)).toEqual({ ids: [6], errored: false });
  });

  it('without a history, since gets a HistoryGap', async () => {
    const kit = setup();
    const ws = await joined(kit, { since: '0000000000000001-00000000' });
    await flush();
    expect(JSON.stringify(ws.frames())).toContain('HistoryGap: ');
  });
});
