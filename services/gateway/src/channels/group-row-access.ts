/**
 * Row authorization for one delivery group (ROW_AUTHORIZATION=postgres): the identity its members
 * read as, and the queue that keeps its changes in commit order while some wait for a verdict from
 * PostgreSQL. A change whose view is known at once goes out at once when nothing waits before it.
 *
 * Fails closed: a change whose view could not be computed (the database unreachable, a timeout) is
 * never sent; `onUnavailable` hears of it (its members are to be told at most once per `noticeMs`) and it goes on
 * with the next change. At most `maxPending` changes wait; past that, new ones fail the same way,
 * so a stalled database cannot grow memory without bound.
 */
import type { Identity } from '../rls/identity';
import type { ChangeToAuthorize, PendingView, RowAuthorizer, View } from '../rls/row-authorizer';

export interface GroupRowAccessOptions {
  authorizer: RowAuthorizer;
  identity: Identity;
  /**
   * Called for every change that could not be authorized (and was not sent); `notify` is true at
   * most once per `noticeMs`: then the group's members are to be told.
   */
  onUnavailable(err: unknown, notify: boolean): void;
  maxPending?: number;
  noticeMs?: number;
}

interface Waiting {
  settled: boolean;
  view: View;
  failure: unknown;
  send(view: NonNullable<View>): void;
}

const DEFAULT_MAX_PENDING = 10_000;

export class GroupRowAccess {
  private readonly queue: Waiting[] = [];
  private lastNoticeAt = -Infinity;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: GroupRowAccessOptions) {}

  get identity(): Identity {
    return this.opts.identity;
  }

  /** Changes waiting for a verdict. */
  get pending(): number {
    return this.queue.length;
  }

  /** Resolves once no change waits for a verdict (every one submitted so far was sent or dropped). */
  whenIdle(): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Sends `change` as the identity may see it (through `send`), in order with the changes before it. */
  submit(change: ChangeToAuthorize, send: (view: NonNullable<View>) => void): void {
    let view: PendingView;
    try {
      view = this.opts.authorizer.view(change, this.opts.identity);
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!(view instanceof Promise) && this.queue.length === 0) {
      if (view) send(view);
      return;
    }
    if (this.queue.length >= (this.opts.maxPending ?? DEFAULT_MAX_PENDING)) {
      this.fail(new Error('too many changes waiting for row authorization'));
      return;
    }
    const waiting: Waiting = { settled: false, view: null, failure: undefined, send };
    this.queue.push(waiting);
    Promise.resolve(view).then(
      (v) => this.settle(waiting, v, undefined),
      (err: unknown) => this.settle(waiting, null, err ?? new Error('row authorization failed')),
    );
  }

  private settle(waiting: Waiting, view: View, failure: unknown): void {
    waiting.settled = true;
    waiting.view = view;
    waiting.failure = failure;
    while (this.queue.length > 0 && this.queue[0]!.settled) {
      const next = this.queue.shift()!;
      if (next.failure !== undefined) this.fail(next.failure);
      else if (next.view) next.send(next.view);
    }
    if (this.queue.length === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private fail(err: unknown): void {
    const now = Date.now();
    const notify = now - this.lastNoticeAt >= (this.opts.noticeMs ?? 1000);
    if (notify) this.lastNoticeAt = now;
    this.opts.onUnavailable(err, notify);
  }
}
