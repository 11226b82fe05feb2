/**
 * Declarative settings: each environment variable is declared once, with its parser, default and
 * documentation. The same declarations drive `loadConfig` (fail fast, every problem listed) and the
 * generated configuration reference (docs/configuration.md). Imports nothing.
 */

export interface Setting<T> {
  /** One line for the configuration reference. */
  readonly doc: string;
  /** Used when the variable is unset or empty. `undefined` means the setting is optional with no value. */
  readonly default: T | undefined;
  /** The default as shown in the docs. */
  readonly defaultText: string;
  /** Missing and no default: a start-up error. */
  readonly required: boolean;
  /** Never logged or echoed back in an error. */
  readonly secret: boolean;
  /** Human description of the accepted form, used in error messages and docs. */
  readonly expected: string;
  /** Parses a raw value; throws an Error whose message completes "expected …, got …". */
  parse(raw: string): T;
}

interface Common<T> {
  doc: string;
  default?: T;
  required?: boolean;
  secret?: boolean;
}

function setting<T>(
  opts: Common<T>,
  expected: string,
  parse: (raw: string) => T,
  show: (v: T) => string,
): Setting<T> {
  return {
    doc: opts.doc,
    default: opts.default,
    defaultText: opts.default === undefined ? '' : show(opts.default),
    required: opts.required ?? false,
    secret: opts.secret ?? false,
    expected,
    parse,
  };
}

export function str(opts: Common<string> & { pattern?: RegExp; patternText?: string }): Setting<string> {
  const expected = opts.patternText ?? 'a string';
  return setting(
    opts,
    expected,
    (raw) => {
      if (opts.pattern && !opts.pattern.test(raw)) throw new Error(expected);
      return raw;
    },
    (v) => v,
  );
}

export function int(opts: Common<number> & { min?: number; max?: number }): Setting<number> {
  const min = opts.min ?? Number.MIN_SAFE_INTEGER;
  const max = opts.max ?? Number.MAX_SAFE_INTEGER;
  const expected = `an integer from ${min} to ${max}`;
  return setting(
    opts,
    expected,
    (raw) => {
      if (!/^-?\d+$/.test(raw.trim())) throw new Error(expected);
      const n = Number(raw);
      if (n < min || n > max) throw new Error(expected);
      return n;
    },
    String,
  );
}

export function bool(opts: Common<boolean>): Setting<boolean> {
  return setting(
    opts,
    '`true` or `false`',
    (raw) => {
      const v = raw.trim().toLowerCase();
      if (v === 'true' || v === '1' || v === 'yes') return true;
      if (v === 'false' || v === '0' || v === 'no') return false;
      throw new Error('`true` or `false`');
    },
    String,
  );
}

export function oneOf<const V extends string>(values: readonly V[], opts: Common<V>): Setting<V> {
  const expected = `one of ${values.map((v) => `\`${v}\``).join(', ')}`;
  return setting(
    opts,
    expected,
    (raw) => {
      const v = raw.trim().toLowerCase() as V;
      if (!values.includes(v)) throw new Error(expected);
      return v;
    },
    (v) => v,
  );
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds: a plain number means milliseconds (as the original server's
 * SOCKET_TIMEOUT), or a number with a unit (`500ms`, `10s`, `2m`, `1h`). With `allowInfinity`,
 * `infinity` gives `Infinity`.
 */
export function durationMs(opts: Common<number> & { allowInfinity?: boolean }): Setting<number> {
  const expected = `a duration like 60000, "500ms", "10s" or "2m"${opts.allowInfinity ? ' or "infinity"' : ''}`;
  return setting(
    opts,
    expected,
    (raw) => {
      const v = raw.trim().toLowerCase();
      if (opts.allowInfinity && v === 'infinity') return Infinity;
      const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(v);
      if (!m) throw new Error(expected);
      return Math.round(Number(m[1]) * (UNITS[m[2] ?? 'ms'] ?? 1));
    },
    (v) => (v === Infinity ? 'infinity' : `${v}ms`),
  );
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  kib: 1024,
  mb: 1e6,
  mib: 1024 * 1024,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** A size in bytes: a plain number, or with a unit (`64KiB`, `8MiB`, `1GB`). */
export function bytes(opts: Common<number>): Setting<number> {
  const expected = 'a size like 1048576, "64KiB" or "8MiB"';
  return setting(
    opts,
    expected,
    (raw) => {
      const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)?$/i.exec(raw.trim());
      const unit = SIZE_UNITS[(m?.[2] ?? 'b').toLowerCase()];
      if (!m || unit === undefined) throw new Error(expected);
      return Math.round(Number(m[1]) * unit);
    },
    String,
  );
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const IPV6 = /^[0-9a-f]*:[0-9a-f:.]*(%[\w.-]+)?$/i;

/**
 * An address to listen on: an IPv4 address, an IPv6 address without brackets (`::`) or a host name.
 * Catches the usual slips (a scheme, a port, brackets) before the listener reports them less clearly.
 */
export function host(opts: Common<string>): Setting<string> {
  const expected = 'an IP address (0.0.0.0, 127.0.0.1, ::) or a host name, without a port';
  return setting(
    opts,
    expected,
    (raw) => {
      const v = raw.trim();
      if (!HOST_NAME.test(v) && !IPV6.test(v)) throw new Error(expected);
      return v;
    },
    (v) => v,
  );
}

/** A URL with one of the given schemes. */
export function url(opts: Common<string> & { schemes: readonly string[] }): Setting<string> {
  const expected = `a URL (${opts.schemes.map((s) => `${s}://…`).join(' or ')})`;
  return setting(
    opts,
    expected,
    (raw) => {
      let parsed: URL;
      try {
        parsed = new URL(raw.trim());
      } catch {
        throw new Error(expected);
      }
      if (!opts.schemes.includes(parsed.protocol.replace(/:$/, ''))) throw new Error(expected);
      return raw.trim();
    },
    (v) => v,
  );
}

/** A JSON object (e.g. JWT_CLAIM_VALIDATORS). */
export function jsonObject(opts: Common<Record<string, unknown>>): Setting<Record<string, unknown>> {
  // JSON.parse's message quotes the input; a secret's must not reach the error.
  const why = (err: unknown): string => (opts.secret ? 'invalid JSON' : (err as Error).message);
  const expected = 'a JSON object, e.g. {"iss":"supabase"}';
  return setting(
    opts,
    expected,
    (raw) => {
      let v: unknown;
      try {
        v = JSON.parse(raw);
      } catch (err) {
        throw new Error(`${expected} (${why(err)})`);
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(expected);
      return v as Record<string, unknown>;
    },
    (v) => JSON.stringify(v),
  );
}

/** Seed nodes of a Redis Cluster and how to reach them (REDIS_CLUSTER_NODES). */
export interface ClusterNodes {
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  /** `rediss://` seeds: connect with TLS. */
  tls: boolean;
}

/**
 * Comma-separated Redis Cluster seed nodes: `host:port` (`[::1]:7000` for IPv6), or
 * `redis://[user:password@]host:port` / `rediss://…` entries, which give credentials and TLS for
 * every node (at most one set of credentials; all entries plain or all TLS).
 */
export function clusterNodes(opts: Common<ClusterNodes>): Setting<ClusterNodes> {
  const expected =
    'a comma-separated list of host:port (or redis://[user:password@]host:port, rediss://… for TLS) seed nodes';
  return setting(
    opts,
    expected,
    (raw) => {
      const result: ClusterNodes = { nodes: [], tls: false };
      const schemes = new Set<string>();
      for (const part of raw.split(',').map((p) => p.trim())) {
        if (part === '') continue;
        const isUrl = part.includes('://');
        let parsed: URL;
        try {
          parsed = new URL(isUrl ? part : `redis://${part}`);
        } catch {
          throw new Error(expected);
        }
        const scheme = parsed.protocol.replace(/:$/, '');
        if ((scheme !== 'redis' && scheme !== 'rediss') || parsed.hostname === '' || parsed.port === '')
          throw new Error(expected);
        schemes.add(scheme);
        result.nodes.push({ host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(parsed.port) });
        if (parsed.password || parsed.username) {
          const username = decodeURIComponent(parsed.username);
          const password = decodeURIComponent(parsed.password);
          if (result.password !== undefined && (result.password !== password || result.username !== username))
            throw new Error(`${expected}; entries name different credentials`);
          if (username) result.username = username;
          result.password = password;
        }
      }
      if (result.nodes.length === 0) throw new Error(expected);
      if (schemes.size > 1) throw new Error(`${expected}; entries mix redis:// and rediss://`);
      result.tls = schemes.has('rediss');
      return result;
    },
    (v) => v.nodes.map((n) => `${n.host}:${n.port}`).join(','),
  );
}

/**
 * REDIS_CLUSTER_NODES, the same in every service: a Redis Cluster instead of the one Redis of
 * REDIS_URL, which it takes precedence over.
 */
export const REDIS_CLUSTER_NODES = clusterNodes({
  doc:
    'A Redis Cluster instead of one Redis: comma-separated seed nodes, `host:port` or ' +
    '`redis://[user:password@]host:port` (`rediss://` for TLS). Changes, broadcasts and presence then use ' +
    "sharded pub/sub, and each table's keys live on its channel's shard. Takes precedence over REDIS_URL, " +
    'which is then ignored.',
  secret: true,
});
