/** Who is present on the joined channel: each key with the payloads tracked under it. */
import { el } from './dom';
import type { PresenceMap } from './inspector-session';

export function renderPresence(list: HTMLElement, count: HTMLElement, present: PresenceMap): void {
  const keys = Object.keys(present).sort();
  const metas = keys.reduce((n, key) => n + (present[key]?.length ?? 0), 0);
  count.textContent =
    keys.length === 0
      ? 'nobody'
      : `${keys.length} key${keys.length === 1 ? '' : 's'}, ${metas} presence${metas === 1 ? '' : 's'}`;
  list.replaceChildren(
    ...keys.map((key) =>
      el('li', { attrs: { 'data-key': key } }, [
        el('strong', { text: key }),
        ...(present[key] ?? []).map((meta) => {
          const { presence_ref: _ref, ...fields } = meta;
          return el('code', { text: JSON.stringify(fields) });
        }),
      ]),
    ),
  );
}
