/**
 * The fuzzer's vocabulary: what one generated socket does, as small plain data. Big or deep values
 * are kept as their shape (`{ kind: 'deep-array', depth: 5000 }`) and only built when the frame is
 * sent (see render.ts), so a shrunk counterexample prints in a few lines and shrinks by its sizes.
 */
import type { TokenSpec } from './tokens';

export type Vsn = '1.0.0' | '2.0.0';

/** `unit` repeated `times` times between `head` and `tail`, e.g. a like pattern `%%%…%x`. */
export interface Repeat {
  head: string;
  unit: string;
  times: number;
  tail: string;
}

/** A JSON value by shape. */
export type Blob =
  | { kind: 'json'; value: unknown }
  | { kind: 'deep-array'; depth: number }
  | { kind: 'deep-object'; depth: number }
  | { kind: 'wide-array'; length: number }
  | { kind: 'string'; text: Repeat };

/** A topic: literal text, or text with a repeated part (long names). */
export type TopicSpec = { kind: 'text'; text: string } | { kind: 'repeat'; text: Repeat };

/** One `postgres_changes` entry; a field left out is absent from the JSON. */
export interface BindingSpec {
  event?: unknown;
  schema?: unknown;
  table?: unknown;
  filter?: unknown;
  select?: unknown;
  /** Where to resume (`since`): a position, one almost, or anything else. */
  since?: unknown;
  /** A deep or big value in place of one of the fields above. */
  deep?: { field: 'event' | 'schema' | 'table' | 'filter' | 'select' | 'since'; blob: Blob };
  /** A pathological filter, rendered as `<column>=<op>.<repeat>`. */
  repeatFilter?: { column: string; op: string; value: Repeat };
  /** An extra key holding a deep or big value (in the first copy only, when the template is copied). */
  extra?: Blob;
}

/** `template` repeated `copies` times (the i-th copy filters `id=eq.<i>` when asked), then `list`. */
export interface BindingsSpec {
  list: BindingSpec[];
  copies: number;
  template: BindingSpec;
  distinctFilters: boolean;
}

/** One thing a fuzz socket sends. */
export type Action =
  | {
      kind: 'join-legacy';
      topic: TopicSpec;
      token: TokenSpec | null;
      extra: Blob | null;
      /** `since` in the join payload (resume), when present. */
      since?: unknown;
    }
  | {
      kind: 'join-modern';
      topic: TopicSpec;
      bindings: BindingsSpec;
      token: TokenSpec | null;
      /** Replaces or joins the config: a deep or odd value where the config's parts should be. */
      configExtra: {
        at: 'config' | 'postgres_changes' | 'broadcast' | 'presence' | 'private';
        blob: Blob;
      } | null;
    }
  | { kind: 'access-token'; topic: TopicSpec; token: TokenSpec }
  | { kind: 'leave'; topic: TopicSpec }
  | { kind: 'heartbeat' }
  | {
      kind: 'many-joins';
      count: number;
      modern: boolean;
      /** What differs between the joins: a filter on one table, the table, or the schema. */
      distinct: 'filter' | 'table' | 'schema';
    }
  | { kind: 'event'; topic: TopicSpec; event: string; payload: Blob }
  | { kind: 'odd-frame'; value: unknown }
  | { kind: 'raw-text'; text: string }
  | { kind: 'broken-json'; of: Action; cut: number }
  | { kind: 'big-text'; blob: Blob }
  | { kind: 'binary'; bytes: number[] }
  /**
   * A kind-3 user broadcast push (vsn 2.0.0's binary frame): `enc` may be neither 0 nor 1, `meta`
   * need not be JSON, and `lie` (when set) overwrites one length byte so the lengths do not add up.
   */
  | {
      kind: 'kind3';
      topic: TopicSpec;
      event: string;
      meta: string;
      enc: number;
      payload: number[];
      lie: [number, number] | null;
    };

export type ActionKind = Action['kind'];

/** One fuzz socket: how it connects, then what it sends, in order. */
export interface SocketSession {
  /** `vsn` query parameter; anything but 1.0.0/2.0.0 is refused (403) by design. */
  vsn: string;
  /** Connect token (`apikey`); null sends none. */
  token: TokenSpec | null;
  actions: Action[];
}
