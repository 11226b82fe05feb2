import { parseLegacySubtopic, REALTIME_PREFIX, subtopicOf, TopicError } from './legacy-topic';

describe('subtopicOf', () => {
  it('returns the part after realtime:', () => {
    expect(subtopicOf('realtime:public:users')).toBe('public:users');
    expect(subtopicOf('realtime:*')).toBe('*');
    expect(subtopicOf(REALTIME_PREFIX)).toBe('');
  });

  it('returns null for topics not routed to realtime', () => {
    expect(subtopicOf('phoenix')).toBeNull();
    expect(subtopicOf('Realtime:public')).toBeNull();
    expect(subtopicOf('room:1')).toBeNull();
  });
});

describe('parseLegacySubtopic', () => {
  it('parses `*` as every change', () => {
    expect(parseLegacySubtopic('*')).toEqual({ kind: 'all' });
  });

  it('parses a bare schema', () => {
    expect(parseLegacySubtopic('public')).toEqual({ kind: 'schema', schema: 'public' });
  });

  it('parses schema:table without a filter', () => {
    expect(parseLegacySubtopic('public:users')).toEqual({
      kind: 'table',
      schema: 'public',
      table: 'users',
      filter: null,
    });
  });

  it('parses schema:table:col=eq.value', () => {
    expect(parseLegacySubtopic('public:users:id=eq.99')).toEqual({
      kind: 'table',
      schema: 'public',
      table: 'users',
      filter: 'id=eq.99',
    });
  });

  it('rewrites the README dot form id.eq.99 to id=eq.99', () => {
    expect(parseLegacySubtopic('public:users:id.eq.99')).toEqual({
      kind: 'table',
      schema: 'public',
      table: 'users',
      filter: 'id=eq.99',
    });
  });

  it.each([
    ['public:events:at=eq.10:30:00', 'at=eq.10:30:00'],
    ['public:events:v=eq.1.5', 'v=eq.1.5'],
    ['public:events:v=eq.a=b', 'v=eq.a=b'],
    ['public:events:url=eq.http://x.y/z?a=1', 'url=eq.http://x.y/z?a=1'],
    ['public:events:v.eq.1.5', 'v=eq.1.5'],
    ['public:events:v.eq.a=b:c', 'v=eq.a=b:c'],
    ['public:events:v.eq.', 'v=eq.'],
  ])('keeps `:` `.` `=` in the value of %p', (subtopic, filter) => {
    const target = parseLegacySubtopic(subtopic);
    expect(target).toEqual({ kind: 'table', schema: 'public', table: 'events', filter });
  });

  it('leaves a filter that has no operator after the dot for the filter parser', () => {
    expect(parseLegacySubtopic('public:users:id.eq')).toMatchObject({ filter: 'id.eq' });
    expect(parseLegacySubtopic('public:users:id..1')).toMatchObject({ filter: 'id..1' });
  });

  it('refuses an empty subtopic', () => {
    expect(() => parseLegacySubtopic('')).toThrow(TopicError);
    expect(() => parseLegacySubtopic('')).toThrow('You must provide a topic name');
  });

  it.each(['public:', ':users', '::', 'public::id=eq.1', ':users:id=eq.1'])(
    'refuses %p, which lacks a schema or a table',
    (subtopic) => {
      expect(() => parseLegacySubtopic(subtopic)).toThrow(TopicError);
      expect(() => parseLegacySubtopic(subtopic)).toThrow(
        `topic "realtime:${subtopic}" must name a schema and a table`,
      );
    },
  );
});
