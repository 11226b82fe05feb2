// Property tests of the REST broadcast parsers over generated bodies (fast-check): whatever a
// client posts, they answer with a refusal or with messages the gateway can deliver: payloads
// within MAX_BROADCAST_BYTES, JSON text that parses (or base64 of the bytes), and never a throw.
import fc from 'fast-check';
import { parseBatch, parseSingle, type BroadcastLimits } from './broadcast-request';

const limits: BroadcastLimits = { maxPayloadBytes: 512, maxDepth: 8 };

/** Deeply nested text, beyond the depth limit. */
const deep = fc.integer({ min: 1, max: 200 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);

const message = fc.record(
  {
    topic: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    event: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
    payload: fc.jsonValue({ maxDepth: 12 }),
    private: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
    id: fc.oneof(fc.uuid(), fc.string()),
  },
  { requiredKeys: [] },
);

const batchBody = fc.oneof(
  fc.array(message, { maxLength: 5 }).map((messages) => JSON.stringify({ messages })),
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  fc.string(),
  deep,
);

describe('REST broadcast parsers under generated bodies', () => {
  it('a batch is refused (400 or 422) or every message is deliverable within the limits', () => {
    fc.assert(
      fc.property(batchBody, (text) => {
        const result = parseBatch(text, limits);
        if ('status' in result) {
          expect([400, 422]).toContain(result.status);
          expect(() => JSON.parse(result.body) as unknown).not.toThrow();
          return;
        }
        for (const out of result.messages) {
          const map = JSON.parse(out.payloadText) as { payload: unknown; event: unknown };
          expect(typeof map.event).toBe('string');
          expect(Buffer.byteLength(JSON.stringify(map.payload))).toBeLessThanOrEqual(limits.maxPayloadBytes);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('a single message is refused or deliverable, JSON or bytes', () => {
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 12 }).map((v) => Buffer.from(JSON.stringify(v))),
      fc.uint8Array({ maxLength: 1024 }).map((a) => Buffer.from(a)),
      deep.map((t) => Buffer.from(t)),
    );
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.constantFrom('json' as const, 'binary' as const),
        body,
        (subtopic, event, kind, buf) => {
          const result = parseSingle({ subtopic, event, isPrivate: false, kind, body: buf }, limits);
          if ('status' in result) {
            expect([400, 422]).toContain(result.status);
            return;
          }
          if (kind === 'binary') {
            expect(Buffer.from(result.payloadText, 'base64').length).toBeLessThanOrEqual(
              limits.maxPayloadBytes,
            );
          } else {
            expect(Buffer.byteLength(result.payloadText)).toBeLessThanOrEqual(limits.maxPayloadBytes);
            expect(() => JSON.parse(result.payloadText) as unknown).not.toThrow();
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
