import { uniqueName } from './unique-name';

describe('uniqueName', () => {
  it('is a safe unquoted PostgreSQL identifier', () => {
    for (const prefix of [undefined, 'rt_test', 'My-Slot.Name', '9lives', 'x'.repeat(100)]) {
      const name = uniqueName(prefix);
      expect(name).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(name.length).toBeLessThanOrEqual(63);
    }
  });

  it('keeps a clean prefix and defaults to wt', () => {
    expect(uniqueName('rt_test')).toMatch(/^rt_test_/);
    expect(uniqueName()).toMatch(/^wt_/);
  });

  it('never repeats within a process', () => {
    const names = new Set(Array.from({ length: 1000 }, () => uniqueName('s')));
    expect(names.size).toBe(1000);
  });
});
