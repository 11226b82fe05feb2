import type { Identity } from '../rls/identity';
import type { ChangeToAuthorize, PendingView, RowAuthorizer, View } from '../rls/row-authorizer';
import { GroupRowAccess } from './group-row-access';

const identity = { role: 'authenticated', key: 'k', sub: 's', claims: {}, claimsJson: '{}' } as Identity;

/** A change named by its event text; the fake authorizer answers per name. */
const change = (name: string): ChangeToAuthorize => ({ eventJson: name }) as ChangeToAuthorize;

function deferred(): { promise: Promise<View>; resolve(v: View): void; reject(e: unknown): void } {
  let resolve!: (v: View) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<View>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const visible = (json: string): View => ({ json, selectable: new Set() });

function setup(views: Record<string, PendingView>, opts: { maxPending?: number } = {}) {
  const sent: string[] = [];
  const failures: Array<{ notify: boolean }> = [];
  const authorizer = {
    view: (c: ChangeToAuthorize) => views[c.eventJson] ?? null,
  } as unknown as RowAuthorizer;
  const access = new GroupRowAccess({
    authorizer,
    identity,
    onUnavailable: (_err, notify) => failures.push({ notify }),
    ...opts,
  });
  const submit = (name: string): void => access.submit(change(name), (v) => sent.push(v.json));
  return { access, sent, failures, submit };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('GroupRowAccess', () => {
  it('sends a view known at once at once, and never a change the identity may not see', () => {
    const { sent, submit } = setup({ a: visible('A'), b: null });
    submit('a');
    submit('b');
    expect(sent).toEqual(['A']);
  });

  it('keeps commit order: a known view waits behind one still being judged', async () => {
    const slow = deferred();
    const { access, sent, submit } = setup({ a: slow.promise, b: visible('B'), c: null, d: visible('D') });
    submit('a');
    submit('b');
    submit('c');
    submit('d');
    await flush();
    expect(sent).toEqual([]);
    expect(access.pending).toBe(4);
    slow.resolve(visible('A'));
    await flush();
    expect(sent).toEqual(['A', 'B', 'D']);
    expect(access.pending).toBe(0);
  });

  it('fails closed: a change whose view failed is not sent, the next ones are; notices are throttled', async () => {
    const first = deferred();
    const second = deferred();
    const { sent, failures, submit } = setup({ a: first.promise, b: second.promise, c: visible('C') });
    submit('a');
    submit('b');
    submit('c');
    first.reject(new Error('database away'));
    second.reject(new Error('database away'));
    await flush();
    expect(sent).toEqual(['C']);
    expect(failures).toEqual([{ notify: true }, { notify: false }]);
  });

  it('bounds what waits: past maxPending a change fails instead of queueing', async () => {
    const slow = deferred();
    const { access, failures, submit } = setup(
      { a: slow.promise, b: visible('B'), c: visible('C') },
      { maxPending: 2 },
    );
    submit('a');
    submit('b');
    submit('c');
    expect(access.pending).toBe(2);
    expect(failures).toHaveLength(1);
    slow.resolve(null);
    await flush();
    expect(access.pending).toBe(0);
  });
});
