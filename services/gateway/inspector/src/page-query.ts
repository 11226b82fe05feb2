/**
 * The inspector's address may fill the form in: `?channel=dev&schema=public&table=users&join=1`
 * (`pnpm dev` prints such a link). Tokens are never read from the address: addresses end up in
 * histories and logs, so the token is pasted.
 */
import type { BindingFields } from './channel-request';

export interface PageQuery {
  channel: string | null;
  /** A binding when `schema`, `table`, `event` or `filter` is given. */
  binding: Partial<BindingFields> | null;
  isPrivate: boolean;
  /** `join=1`: join as soon as the page is loaded. */
  joinsAtOnce: boolean;
}

export function readPageQuery(search: string): PageQuery {
  const q = new URLSearchParams(search);
  const pick = (name: string) => {
    const value = q.get(name);
    return value === null ? undefined : value;
  };
  const binding: Partial<BindingFields> = {};
  for (const name of ['schema', 'table', 'event', 'filter'] as const) {
    const value = pick(name);
    if (value !== undefined) binding[name] = value;
  }
  const flag = (name: string) => ['1', 'true', 'yes'].includes((q.get(name) ?? '').toLowerCase());
  return {
    channel: q.get('channel'),
    binding: Object.keys(binding).length > 0 ? binding : null,
    isPrivate: flag('private'),
    joinsAtOnce: flag('join'),
  };
}
