// The built ingester's configuration errors, seen from outside: exit code 2 and one report listing
// every problem on stderr, secrets never echoed. No backends needed: nothing is contacted.
import { INGESTER_ENTRY, spawnService } from '@walcast/test-utils';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(15_000);

async function runWith(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const proc = await spawnService({ name: 'ingester-config', entry: INGESTER_ENTRY, env });
  const timer = setTimeout(() => void proc.kill(), 10_000); // a config error must end the process
  const exit = await proc.exited;
  clearTimeout(timer);
  return { code: exit.code, output: proc.lines.join('\n') };
}

describe('ingester configuration', () => {
  it('exits with code 2 and lists both missing REDIS_URL and missing DATABASE_URL/DB_HOST', async () => {
    const { code, output } = await runWith({});
    expect(code).toBe(2);
    expect(output).toContain('invalid configuration');
    expect(output).toMatch(/REDIS_URL or REDIS_CLUSTER_NODES is required/);
    expect(output).toMatch(/DATABASE_URL or DB_HOST is required/);
  });

  it('lists every bad value at once', async () => {
    const { code, output } = await runWith({
      REDIS_URL: 'redis://127.0.0.1:1',
      DB_HOST: '127.0.0.1',
      DB_PORT: 'abc',
      SLOT_NAME: 'Bad-Name',
      LOG_LEVEL: 'loud',
    });
    expect(code).toBe(2);
    const problems = output.split('\n').filter((line) => line.trimStart().startsWith('- '));
    expect(problems).toHaveLength(3);
    expect(output).toMatch(/DB_PORT: .*got "abc"/);
    expect(output).toMatch(/SLOT_NAME: .*got "Bad-Name"/);
    expect(output).toMatch(/LOG_LEVEL: .*got "loud"/);
  });

  it('never prints a password when it reports invalid configuration', async () => {
    const { code, output } = await runWith({
      REDIS_URL: 'redis://127.0.0.1:1',
      DATABASE_URL: 'mysql://walcast:url-pw-7d1c9e@db.example:3306/app',
      DB_PASSWORD: 'env-pw-4b8a2f',
      LOG_LEVEL: 'loud',
    });
    expect(code).toBe(2);
    expect(output).toMatch(/DATABASE_URL: expected/);
    expect(output).toMatch(/LOG_LEVEL/);
    expect(output).not.toContain('url-pw-7d1c9e');
    expect(output).not.toContain('env-pw-4b8a2f');
  });

  it('does not echo a DATABASE_URL that fails to parse as a URL either', async () => {
    const { code, output } = await runWith({
      REDIS_URL: 'redis://127.0.0.1:1',
      DATABASE_URL: 'postgres://walcast:url-pw-55aa01@db.example:notaport/app',
      DB_PASSWORD: 'env-pw-66bb02',
    });
    expect(code).toBe(2);
    expect(output).toMatch(/DATABASE_URL: expected/);
    expect(output).not.toContain('url-pw-55aa01');
    expect(output).not.toContain('env-pw-66bb02');
  });
});
