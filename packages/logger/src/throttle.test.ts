import type { Logger } from 'pino';
import { LogThrottle } from './throttle';

function clock(start = 0): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (v) => (t = v) };
}

describe('LogThrottle.run', () => {
  it('lets `max` calls per window through and holds back the rest', () => {
    const c = clock(1000);
    const throttle = new LogThrottle({ max: 2, windowMs: 1000, now: c.now });
    const emitted: number[] = [];
    for (let i = 0; i < 5; i++) throttle.run('k', (s) => emitted.push(s));
    expect(emitted).toEqual([0, 0]);
  });

  it('reports the suppressed count with the first call of the next window', () => {
    const c = clock(0);
    const throttle = new LogThrottle({ max: 1, windowMs: 1000, now: c.now });
    const emitted: number[] = [];
    for (let i = 0; i < 4; i++) throttle.run('k', (s) => emitted.push(s));
    c.set(999);
    throttle.run('k', (s) => emitted.push(s));
    expect(emitted).toEqual([0]);
    c.set(1000);
    throttle.run('k', (s) => emitted.push(s));
    expect(emitted).toEqual([0, 4]);
  });

  it('reports zero suppressed after a window in which nothing was held back', () => {
    const c = clock(0);
    const throttle = new LogThrottle({ max: 3, windowMs: 100, now: c.now });
    const emitted: number[] = [];
    throttle.run('k', (s) => emitted.push(s));
    c.set(500);
    throttle.run('k', (s) => emitted.push(s));
    expect(emitted).toEqual([0, 0]);
  });

  it('starts the new window at the first call after the old one expired', () => {
    const c = clock(0);
    const throttle = new LogThrottle({ max: 1, windowMs: 100, now: c.now });
    const emitted: number[] = [];
    throttle.run('k', (s) => emitted.push(s)); // window [0, 100)
    c.set(150);
    throttle.run('k', (s) => emitted.push(s)); // window [150, 250)
    c.set(249);
    throttle.run('k', (s) => emitted.push(s)); // suppressed
    c.set(250);
    throttle.run('k', (s) => emitted.push(s));
    expect(emitted).toEqual([0, 0, 1]);
  });

  it('throttles each key on its own', () => {
    const c = clock(0);
    const throttle = new LogThrottle({ max: 1, windowMs: 1000, now: c.now });
    const emitted: string[] = [];
    throttle.run('a', () => emitted.push('a'));
    throttle.run('a', () => emitted.push('a'));
    throttle.run('b', () => emitted.push('b'));
    expect(emitted).toEqual(['a', 'b']);
  });
});

describe('LogThrottle.warn', () => {
  it('logs with the message as key and adds `suppressed` only when something was held back', () => {
    const c = clock(0);
    const warn = jest.fn();
    const log = { warn } as unknown as Logger;
    const throttle = new LogThrottle({ max: 1, windowMs: 10, now: c.now });
    throttle.warn(log, { col: 'a' }, 'bad value');
    throttle.warn(log, { col: 'b' }, 'bad value');
    throttle.warn(log, { col: 'c' }, 'bad value');
    throttle.warn(log, { x: 1 }, 'other message');
    c.set(10);
    throttle.warn(log, { col: 'd' }, 'bad value');
    expect(warn.mock.calls).toEqual([
      [{ col: 'a' }, 'bad value'],
      [{ x: 1 }, 'other message'],
      [{ col: 'd', suppressed: 2 }, 'bad value'],
    ]);
  });
});
