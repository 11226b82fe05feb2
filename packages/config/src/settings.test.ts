import { bool, bytes, durationMs, host, int, jsonObject, oneOf, str, url, clusterNodes } from './settings';

describe('durationMs', () => {
  const d = durationMs({ doc: 'd' });

  it.each([
    ['60000', 60_000],
    ['500ms', 500],
    ['10s', 10_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    [' 10 S ', 10_000],
    ['0', 0],
  ])('parses %p as %p ms', (raw, ms) => {
    expect(d.parse(raw)).toBe(ms);
  });

  it.each(['-5', '10d', 's', '1 2s', 'infinity', 'ten seconds'])('refuses %p', (raw) => {
    expect(() => d.parse(raw)).toThrow('a duration like 60000, "500ms", "10s" or "2m"');
  });

  it('accepts infinity only when allowed, in any case', () => {
    const inf = durationMs({ doc: 'd', allowInfinity: true });
    expect(inf.parse('infinity')).toBe(Infinity);
    expect(inf.parse(' Infinity ')).toBe(Infinity);
    expect(inf.expected).toContain('"infinity"');
    expect(d.expected).not.toContain('infinity');
  });

  it('shows defaults in ms or as infinity', () => {
    expect(durationMs({ doc: 'd', default: 500 }).defaultText).toBe('500ms');
    expect(durationMs({ doc: 'd', default: Infinity, allowInfinity: true }).defaultText).toBe('infinity');
  });
});

describe('bytes', () => {
  const b = bytes({ doc: 'b' });

  it.each([
    ['1048576', 1_048_576],
    ['100b', 100],
    ['1kb', 1000],
    ['64KiB', 65_536],
    ['1MB', 1_000_000],
    ['8MiB', 8 * 1024 * 1024],
    ['1GB', 1e9],
    ['2gib', 2 * 1024 ** 3],
    ['1.5KiB', 1536],
    [' 10 mib ', 10 * 1024 * 1024],
  ])('parses %p as %p bytes', (raw, n) => {
    expect(b.parse(raw)).toBe(n);
  });

  it.each(['5XB', '1TB', 'KiB', '-1', 'abc', '1,5MB'])('refuses %p', (raw) => {
    expect(() => b.parse(raw)).toThrow('a size like 1048576, "64KiB" or "8MiB"');
  });
});

describe('url', () => {
  const u = url({ doc: 'u', schemes: ['redis', 'rediss'] });

  it('accepts the listed schemes and returns the trimmed text', () => {
    expect(u.parse('redis://localhost:6379')).toBe('redis://localhost:6379');
    expect(u.parse('  rediss://user:pw@host:6380/0 ')).toBe('rediss://user:pw@host:6380/0');
  });

  it.each(['http://localhost', 'postgres://x/y', 'localhost:6379', 'not a url', 'redis'])(
    'refuses %p',
    (raw) => {
      expect(() => u.parse(raw)).toThrow('a URL (redis://… or rediss://…)');
    },
  );
});

describe('jsonObject', () => {
  const j = jsonObject({ doc: 'j' });

  it('parses a JSON object', () => {
    expect(j.parse('{"iss":"supabase","n":[1]}')).toEqual({ iss: 'supabase', n: [1] });
  });

  it.each(['[1,2]', 'null', '"str"', '42', 'true'])('refuses the non-object JSON %p', (raw) => {
    expect(() => j.parse(raw)).toThrow(/^a JSON object, e\.g\. \{"iss":"supabase"\}$/);
  });

  it('refuses text that is not JSON and says why', () => {
    expect(() => j.parse('{iss:1}')).toThrow(/^a JSON object, e\.g\. \{"iss":"supabase"\} \(.+\)$/);
  });

  it('shows its default as JSON', () => {
    expect(jsonObject({ doc: 'j', default: { a: 1 } }).defaultText).toBe('{"a":1}');
  });
});

describe('int', () => {
  it('parses integers within the range', () => {
    const i = int({ doc: 'i', min: 0, max: 10 });
    expect(i.parse('0')).toBe(0);
    expect(i.parse('10')).toBe(10);
    expect(i.parse(' 7 ')).toBe(7);
  });

  it.each(['-1', '11', '1.5', '1e3', 'abc', '0x5', '5a'])('refuses %p for the range 0..10', (raw) => {
    expect(() => int({ doc: 'i', min: 0, max: 10 }).parse(raw)).toThrow('an integer from 0 to 10');
  });

  it('accepts negative integers when the range allows them', () => {
    expect(int({ doc: 'i', min: -5 }).parse('-5')).toBe(-5);
  });

  it('refuses integers beyond the safe range by default', () => {
    expect(() => int({ doc: 'i' }).parse('99999999999999999999')).toThrow(/^an integer from/);
  });
});

describe('bool', () => {
  const b = bool({ doc: 'b' });

  it.each(['true', 'TRUE', '1', 'yes', ' Yes '])('reads %p as true', (raw) => {
    expect(b.parse(raw)).toBe(true);
  });

  it.each(['false', 'False', '0', 'no', 'NO'])('reads %p as false', (raw) => {
    expect(b.parse(raw)).toBe(false);
  });

  it.each(['on', 'off', 'y', '2', 'maybe'])('refuses %p', (raw) => {
    expect(() => b.parse(raw)).toThrow('`true` or `false`');
  });
});

describe('oneOf', () => {
  const o = oneOf(['info', 'debug', 'warn'] as const, { doc: 'o' });

  it('accepts the listed values case-insensitively', () => {
    expect(o.parse('debug')).toBe('debug');
    expect(o.parse(' WARN ')).toBe('warn');
  });

  it('refuses other values and lists the accepted ones', () => {
    expect(() => o.parse('verbose')).toThrow('one of `info`, `debug`, `warn`');
  });
});

describe('str', () => {
  it('accepts any string without a pattern', () => {
    expect(str({ doc: 's' }).parse(' as is ')).toBe(' as is ');
  });

  it('enforces a pattern and reports its description', () => {
    const s = str({ doc: 's', pattern: /^[a-z]+$/, patternText: 'lower-case letters' });
    expect(s.parse('abc')).toBe('abc');
    expect(() => s.parse('ABC')).toThrow('lower-case letters');
  });
});

describe('setting metadata', () => {
  it('records doc, default, required and secret', () => {
    const s = str({ doc: 'Password.', required: true, secret: true });
    expect(s).toMatchObject({
      doc: 'Password.',
      default: undefined,
      defaultText: '',
      required: true,
      secret: true,
    });
    const t = int({ doc: 'n', default: 3 });
    expect(t).toMatchObject({ default: 3, defaultText: '3', required: false, secret: false });
  });
});

describe('host', () => {
  const h = host({ doc: 'h' });

  it.each(['0.0.0.0', '127.0.0.1', ' 10.1.2.3 ', '::', '::1', 'fe80::1%eth0', 'localhost', 'gw-0.internal'])(
    'accepts %p',
    (raw) => {
      expect(h.parse(raw)).toBe(raw.trim());
    },
  );

  it.each(['http://0.0.0.0', '0.0.0.0:4000', '[::]', 'local host', '-bad', 'a..b', 'x_y'])(
    'refuses %p',
    (raw) => {
      expect(() => h.parse(raw)).toThrow(
        'an IP address (0.0.0.0, 127.0.0.1, ::) or a host name, without a port',
      );
    },
  );
});

describe('clusterNodes', () => {
  const setting = clusterNodes({ doc: 'Seeds.', secret: true });

  it('reads host:port lists, IPv6 in brackets, and URLs with credentials and TLS', () => {
    expect(setting.parse('10.0.0.1:7000, redis-1:7001,[::1]:7002')).toEqual({
      nodes: [
        { host: '10.0.0.1', port: 7000 },
        { host: 'redis-1', port: 7001 },
        { host: '::1', port: 7002 },
      ],
      tls: false,
    });
    expect(setting.parse('rediss://app:s%40cret@a:7000,rediss://b:7001')).toEqual({
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      username: 'app',
      password: 's@cret',
      tls: true,
    });
  });

  it.each([
    '',
    ',',
    'a',
    'a:',
    'http://a:7000',
    'redis://a:7000,rediss://b:7000',
    'redis://:x@a:1,redis://:y@b:2',
  ])('refuses %p', (raw) => {
    expect(() => setting.parse(raw)).toThrow(/comma-separated list of host:port/);
  });

  it('never shows a password in its default text', () => {
    const withDefault = clusterNodes({
      doc: 'Seeds.',
      default: { nodes: [{ host: 'a', port: 1 }], password: 'p', tls: false },
    });
    expect(withDefault.defaultText).toBe('a:1');
  });
});
