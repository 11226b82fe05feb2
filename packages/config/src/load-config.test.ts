import { ConfigError, describeSchema, loadConfig } from './load-config';
import { bool, bytes, durationMs, int, jsonObject, oneOf, str, url } from './settings';

const schema = {
  PORT: int({ doc: 'Port to listen on.', default: 4000, min: 1, max: 65535 }),
  REDIS_URL: url({ doc: 'Redis URL.', schemes: ['redis', 'rediss'], required: true }),
  JWT_SECRET: str({ doc: 'Secret for HS256 tokens.', required: true, secret: true }),
  DEBUG: bool({ doc: 'Verbose output.', default: false }),
  REGION: str({ doc: 'Optional region label.' }),
  SOCKET_TIMEOUT: durationMs({ doc: 'Idle timeout.', default: 60_000, allowInfinity: true }),
  MAX_FRAME: bytes({ doc: 'Largest frame.', default: 1024 * 1024 }),
  LOG_LEVEL: oneOf(['info', 'debug'] as const, { doc: 'Level.', default: 'info' }),
};

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const valid = { REDIS_URL: 'redis://localhost:6379', JWT_SECRET: 'hunter2-secret' };

describe('loadConfig', () => {
  it('applies defaults for unset variables and leaves optional ones undefined', () => {
    const config = loadConfig(schema, valid);
    expect(config).toEqual({
      PORT: 4000,
      REDIS_URL: 'redis://localhost:6379',
      JWT_SECRET: 'hunter2-secret',
      DEBUG: false,
      SOCKET_TIMEOUT: 60_000,
      MAX_FRAME: 1024 * 1024,
      LOG_LEVEL: 'info',
    });
    expect(config.REGION).toBeUndefined();
  });

  it('treats empty and whitespace-only values as unset', () => {
    const config = loadConfig(schema, { ...valid, PORT: '', DEBUG: '   ' });
    expect(config.PORT).toBe(4000);
    expect(config.DEBUG).toBe(false);
  });

  it('parses set variables', () => {
    const config = loadConfig(schema, {
      ...valid,
      PORT: '8080',
      DEBUG: 'yes',
      SOCKET_TIMEOUT: 'infinity',
      REGION: 'eu',
    });
    expect(config.PORT).toBe(8080);
    expect(config.DEBUG).toBe(true);
    expect(config.SOCKET_TIMEOUT).toBe(Infinity);
    expect(config.REGION).toBe('eu');
  });

  it('ignores variables the schema does not declare', () => {
    expect(loadConfig(schema, { ...valid, UNRELATED: 'x' })).not.toHaveProperty('UNRELATED');
  });

  it('reports a missing required variable with its doc', () => {
    const err = configError(() => loadConfig(schema, { JWT_SECRET: 's' }));
    expect(err.problems).toEqual(['REDIS_URL is required: Redis URL.']);
    expect(err.message).toContain('REDIS_URL is required');
  });

  it('lists every problem at once', () => {
    const err = configError(() => loadConfig(schema, { PORT: '70000', DEBUG: 'maybe', LOG_LEVEL: 'loud' }));
    expect(err.problems).toHaveLength(5);
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'PORT: expected an integer from 1 to 65535, got "70000"',
        'REDIS_URL is required: Redis URL.',
        'JWT_SECRET is required: Secret for HS256 tokens.',
        'DEBUG: expected `true` or `false`, got "maybe"',
        'LOG_LEVEL: expected one of `info`, `debug`, got "loud"',
      ]),
    );
    for (const p of err.problems) expect(err.message).toContain(p);
  });

  it('never echoes a secret value that fails to parse', () => {
    const secretSchema = {
      TOKEN: str({
        doc: 'A token.',
        secret: true,
        pattern: /^tok_/,
        patternText: 'a token starting with tok_',
      }),
      DB_URL: url({ doc: 'Database.', schemes: ['postgres'], secret: true }),
    };
    const err = configError(() =>
      loadConfig(secretSchema, { TOKEN: 'sup3r-s3cret-value', DB_URL: 'mysql://root:pa55word@db/x' }),
    );
    expect(err.problems).toEqual([
      'TOKEN: expected a token starting with tok_',
      'DB_URL: expected a URL (postgres://…)',
    ]);
    expect(err.message).not.toContain('sup3r-s3cret-value');
    expect(err.message).not.toContain('pa55word');
  });

  it('never echoes a secret jsonObject value that is not JSON', () => {
    expect(() => loadConfig({ S: jsonObject({ doc: 'd', secret: true }) }, { S: 'hunter2' })).toThrow(
      ConfigError,
    );
    try {
      loadConfig({ S: jsonObject({ doc: 'd', secret: true }) }, { S: 'hunter2' });
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });

  it('echoes a non-secret value that fails to parse', () => {
    expect(configError(() => loadConfig(schema, { ...valid, PORT: 'eighty' })).problems).toEqual([
      'PORT: expected an integer from 1 to 65535, got "eighty"',
    ]);
  });

  it('returns a frozen object', () => {
    const config = loadConfig(schema, valid);
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { PORT: number }).PORT = 1;
    }).toThrow(TypeError);
  });
});

describe('describeSchema', () => {
  const text = describeSchema('Gateway', schema);

  it('starts with the title and a table header', () => {
    expect(
      text.startsWith(
        '## Gateway\n\n| variable | default | accepted | meaning |\n| --- | --- | --- | --- |\n',
      ),
    ).toBe(true);
  });

  it.each(Object.keys(schema))('has a row for %s', (name) => {
    expect(text).toContain(`| \`${name}\` |`);
    expect(text).toContain(schema[name as keyof typeof schema].doc);
  });

  it('shows required settings, defaults and accepted forms', () => {
    expect(text).toContain('| `REDIS_URL` | (required) | a URL (redis://… or rediss://…) | Redis URL. |');
    expect(text).toContain('| `PORT` | `4000` | an integer from 1 to 65535 | Port to listen on. |');
    expect(text).toContain('| `SOCKET_TIMEOUT` | `60000ms` |');
    expect(text).toContain('| `REGION` |  | a string | Optional region label. |');
  });
});
