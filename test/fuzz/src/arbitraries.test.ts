// The generators reach the attack shapes a short run must hit, and every socket they describe
// renders to frames of its serializer.
import fc from 'fast-check';

import { DEFAULT_LIMITS, fuzzRun } from './arbitraries';
import { blobJson, RefState, render, topicText } from './render';
import type { Action, Blob } from './shapes';

const SAMPLES = 300;

function actions(seed: number): Action[] {
  return fc
    .sample(fuzzRun(DEFAULT_LIMITS), { numRuns: SAMPLES, seed })
    .flatMap((run) => run.flatMap((s) => s.actions));
}

function blobs(a: Action): Blob[] {
  switch (a.kind) {
    case 'join-legacy':
      return a.extra === null ? [] : [a.extra];
    case 'join-modern':
      return [
        ...(a.configExtra === null ? [] : [a.configExtra.blob]),
        ...[a.bindings.template, ...a.bindings.list].flatMap((b) => (b.extra === undefined ? [] : [b.extra])),
      ];
    case 'event':
      return [a.payload];
    case 'big-text':
      return [a.blob];
    default:
      return [];
  }
}

describe('the fuzzer generates the attack shapes', () => {
  const all = actions(42);

  it('nesting thousands deep inside a join payload', () => {
    const depths = all
      .filter((a) => a.kind === 'join-modern' || a.kind === 'join-legacy')
      .flatMap(blobs)
      .map((b) => (b.kind === 'deep-array' || b.kind === 'deep-object' ? b.depth : 0));
    expect(Math.max(...depths)).toBeGreaterThanOrEqual(5000);
  });

  it('like/match topics with a hundred wildcards or more', () => {
    const patterns = all.flatMap((a) =>
      a.kind === 'join-legacy' &&
      a.topic.kind === 'repeat' &&
      /=(not\.)?(i?like|i?match)\./.test(a.topic.text.head)
        ? [a.topic.text.times]
        : [],
    );
    expect(Math.max(...patterns)).toBeGreaterThanOrEqual(100);
  });

  it('joins with ten thousand bindings, and ten thousand joins of distinct tables on one socket', () => {
    const bindings = all.map((a) => (a.kind === 'join-modern' ? a.bindings.copies : 0));
    const joins = all.map((a) => (a.kind === 'many-joins' && a.distinct === 'table' ? a.count : 0));
    expect(Math.max(...bindings)).toBeGreaterThanOrEqual(10_000);
    expect(Math.max(...joins)).toBeGreaterThanOrEqual(10_000);
  });

  it('megabyte topics', () => {
    const lengths = all.flatMap((a) => ('topic' in a ? [topicText(a.topic).length] : []));
    expect(Math.max(...lengths)).toBeGreaterThanOrEqual(1_000_000);
  });

  it('both serializers, refused vsns, and bad tokens', () => {
    const sessions = fc.sample(fuzzRun(DEFAULT_LIMITS), { numRuns: SAMPLES, seed: 7 }).flat();
    const vsns = new Set(sessions.map((s) => s.vsn));
    expect([...vsns]).toEqual(expect.arrayContaining(['1.0.0', '2.0.0', '3.0.0']));
    const kinds = new Set(sessions.map((s) => s.token?.kind ?? 'none'));
    expect([...kinds]).toEqual(expect.arrayContaining(['valid', 'expired', 'wrong-key', 'garbage', 'none']));
  });
});

describe('render', () => {
  it('writes V1 objects and V2 arrays, one frame per join of many-joins', () => {
    const v1 = render(
      { kind: 'many-joins', count: 3, modern: false, distinct: 'filter' },
      '1.0.0',
      new RefState(),
    );
    expect(v1.map((f) => JSON.parse(String(f)).topic)).toEqual([
      'realtime:public:items:id=eq.0',
      'realtime:public:items:id=eq.1',
      'realtime:public:items:id=eq.2',
    ]);
    const tables = render(
      { kind: 'many-joins', count: 2, modern: true, distinct: 'table' },
      '1.0.0',
      new RefState(),
    );
    expect(tables.map((f) => JSON.parse(String(f)).payload.config.postgres_changes[0].table)).toEqual([
      't0',
      't1',
    ]);
    const [v2] = render({ kind: 'heartbeat' }, '2.0.0', new RefState());
    expect(JSON.parse(String(v2))).toEqual([null, '1', 'phoenix', 'heartbeat', {}]);
  });

  it('builds deep values as text, to the depth asked', () => {
    const text = blobJson({ kind: 'deep-array', depth: 50_000 });
    expect(text).toHaveLength(100_000);
    expect(text.startsWith('[[[') && text.endsWith(']]]')).toBe(true);
  });

  it('keeps the bindings of a modern join in order, with distinct filters when asked', () => {
    const refs = new RefState();
    const [frame] = render(
      {
        kind: 'join-modern',
        topic: { kind: 'text', text: 'realtime:x' },
        bindings: {
          list: [{ event: 'INSERT' }],
          copies: 2,
          template: { table: 'items' },
          distinctFilters: true,
        },
        token: null,
        configExtra: null,
      },
      '2.0.0',
      refs,
    );
    const payload = JSON.parse(String(frame))[4];
    expect(payload.config.postgres_changes).toEqual([
      { table: 'items', filter: 'id=eq.0' },
      { table: 'items', filter: 'id=eq.1' },
      { event: 'INSERT' },
    ]);
    expect(refs.joinRefs.get('realtime:x')).toBe('1');
  });
});
