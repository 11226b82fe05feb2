// The inspector's event list as data: order, pause and resume, filters, capacity.
import { EventLog, clip, type EventInput } from './event-log';

const change = (name: string): EventInput => ({
  kind: 'postgres_changes',
  event: 'INSERT',
  summary: `public.users {"name":"${name}"}`,
  detail: { new: { name } },
});
const broadcast = (text: string): EventInput => ({
  kind: 'broadcast',
  event: 'cursor',
  summary: text,
  detail: { text },
});
const ALL = { kind: 'all', text: '' } as const;

describe('EventLog', () => {
  it('shows the newest first, each numbered in arrival order', () => {
    const log = new EventLog();
    log.add(change('a'));
    log.add(broadcast('b'));
    expect(log.visible(ALL).map((e) => [e.seq, e.kind])).toEqual([
      [2, 'broadcast'],
      [1, 'postgres_changes'],
    ]);
  });

  it('holds events back while paused and shows them, in order, on resume', () => {
    const log = new EventLog();
    log.add(change('before'));
    log.pause();
    log.add(change('during-1'));
    log.add(change('during-2'));
    expect(log.isPaused).toBe(true);
    expect(log.heldCount).toBe(2);
    expect(log.visible(ALL).map((e) => e.seq)).toEqual([1]);
    log.resume();
    expect(log.heldCount).toBe(0);
    expect(log.visible(ALL).map((e) => e.seq)).toEqual([3, 2, 1]);
  });

  it('filters by kind and by every word of the text, case-insensitively, in the detail too', () => {
    const log = new EventLog();
    log.add(change('Alice'));
    log.add(change('bob'));
    log.add(broadcast('alice waves'));
    const names = (kind: 'all' | 'postgres_changes', text: string) =>
      log.visible({ kind, text }).map((e) => e.seq);
    expect(names('all', 'ALICE')).toEqual([3, 1]);
    expect(names('postgres_changes', 'alice')).toEqual([1]);
    expect(names('all', 'alice waves')).toEqual([3]);
    expect(names('all', 'insert bob')).toEqual([2]);
    expect(names('all', 'nobody')).toEqual([]);
  });

  it('keeps the newest `capacity` events and counts the dropped ones', () => {
    const log = new EventLog(3);
    for (const name of ['a', 'b', 'c', 'd', 'e']) log.add(change(name));
    expect(log.size).toBe(3);
    expect(log.dropped).toBe(2);
    expect(log.visible(ALL).map((e) => e.seq)).toEqual([5, 4, 3]);
    log.clear();
    expect([log.size, log.dropped, log.visible(ALL)]).toEqual([0, 0, []]);
  });

  it('clears what was held too', () => {
    const log = new EventLog();
    log.pause();
    log.add(change('held'));
    log.clear();
    log.resume();
    expect(log.visible(ALL)).toEqual([]);
  });
});

describe('clip', () => {
  it('cuts long text with an ellipsis, leaves short text alone', () => {
    expect(clip('abcdef', 4)).toBe('abc…');
    expect(clip('abcd', 4)).toBe('abcd');
  });
});
