/**
 * The memory warm-up of a fresh gateway: three sockets at once each send the largest shapes the
 * fuzzer generates (a frame just under MAX_FRAME_SIZE, a 4 MB topic, 40,000 bindings, 12,000
 * joins), twice. The gateway's RSS rises once to the high-water mark that V8 and glibc then keep
 * for reuse; the memory check compares the end of a campaign with the resting RSS after this, so
 * that only growth past that mark, not its first reaching, counts.
 */
import { PhoenixTestClient } from '@walcast/test-utils';

import { RefState, heartbeatFrame, render } from './render';
import type { Action } from './shapes';

const BIG: Action[] = [
  { kind: 'big-text', blob: { kind: 'string', text: { head: '', unit: 'a', times: 4_900_000, tail: '' } } },
  {
    kind: 'join-legacy',
    topic: {
      kind: 'repeat',
      text: { head: 'realtime:public:items:name=eq.', unit: 'é', times: 2_000_000, tail: '' },
    },
    token: null,
    extra: null,
  },
  {
    kind: 'join-modern',
    topic: { kind: 'text', text: 'realtime:warm-up' },
    bindings: {
      list: [],
      copies: 40_000,
      template: { event: '*', schema: 'public', table: 'items' },
      distinctFilters: true,
    },
    token: null,
    configExtra: null,
  },
  { kind: 'many-joins', count: 12_000, modern: false, distinct: 'table' },
];

/** Sends the warm-up twice over `sockets` sockets and resolves once they are closed. */
export async function warmUp(url: string, sockets = 3): Promise<void> {
  for (let round = 0; round < 2; round++) {
    await Promise.all(
      Array.from({ length: sockets }, async () => {
        const client = await PhoenixTestClient.connect(url);
        const refs = new RefState();
        for (const action of BIG) for (const data of render(action, '1.0.0', refs)) client.sendRaw(data);
        client.sendRaw(heartbeatFrame('1.0.0', 'warm'));
        await client.next((f) => f.topic === 'phoenix' && f.ref === 'warm', 30_000).catch(() => undefined);
        await client.terminate();
      }),
    );
  }
}
