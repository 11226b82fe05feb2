/**
 * Reads a service's environment against its declared settings. Every problem is collected and
 * reported at once in a {@link ConfigError}; a valid result is frozen.
 */
import type { Setting } from './settings';

export type Schema = Record<string, Setting<unknown>>;

/** The values a schema yields; a setting without default or requirement may be `undefined`. */
export type ConfigValues<S extends Schema> = {
  readonly [K in keyof S]: S[K] extends Setting<infer T>
    ? S[K]['required'] extends true
      ? T
      : S[K]['default'] extends undefined
        ? T | undefined
        : T
    : never;
};

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parses `env` against `schema`. Throws {@link ConfigError} listing every problem. Secret values are
 * never echoed in messages.
 */
export function loadConfig<S extends Schema>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): ConfigValues<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [name, setting] of Object.entries(schema)) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') {
      if (setting.default !== undefined) out[name] = setting.default;
      else if (setting.required) problems.push(`${name} is required: ${setting.doc}`);
      continue;
    }
    try {
      out[name] = setting.parse(raw);
    } catch (err) {
      const got = setting.secret ? '' : `, got ${JSON.stringify(raw)}`;
      problems.push(`${name}: expected ${(err as Error).message}${got}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(out) as ConfigValues<S>;
}

/** A Markdown table of the schema, for docs/configuration.md. */
export function describeSchema(title: string, schema: Schema): string {
  const rows = Object.entries(schema).map(([name, s]) => {
    const def = s.required ? '(required)' : s.defaultText === '' ? '' : `\`${s.defaultText}\``;
    return `| \`${name}\` | ${def} | ${s.expected} | ${s.doc} |`;
  });
  return [
    `## ${title}`,
    '',
    '| variable | default | accepted | meaning |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
