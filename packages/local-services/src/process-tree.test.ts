import { parseProcStat } from './process-tree';

describe('parseProcStat', () => {
  it('reads pid, state and ppid', () => {
    expect(parseProcStat('4242 (postgres) S 4200 4242 4242 0 -1 4194560')).toEqual({
      pid: 4242,
      state: 'S',
      ppid: 4200,
    });
  });

  it('reads fields after the last parenthesis when the command name contains spaces and parentheses', () => {
    const line = '77 (postgres: walsender (x) 127.0.0.1) Z 12 77 77 0';
    expect(parseProcStat(line)).toEqual({ pid: 77, state: 'Z', ppid: 12 });
  });

  it('returns null for malformed lines', () => {
    expect(parseProcStat('')).toBeNull();
    expect(parseProcStat('12 postgres S 1')).toBeNull();
    expect(parseProcStat('x (a) S')).toBeNull();
  });
});
