/**
 * The event list on the page: the EventLog drawn as a table, newest first, redrawn once per task
 * however many events arrive in it; each row expands to its whole payload as JSON.
 * Pause holds new rows back (the count shows), the kind menu and the text box narrow the list.
 */
import { clockTime, el } from './dom';
import { EVENT_KINDS, EventLog, type EventFilter, type EventInput, type LoggedEvent } from './event-log';

export interface EventTableElements {
  rows: HTMLTableSectionElement;
  pause: HTMLButtonElement;
  clear: HTMLButtonElement;
  kind: HTMLSelectElement;
  text: HTMLInputElement;
  counts: HTMLElement;
}

/** Rows drawn at most; the rest stay in the log, reachable by filtering. */
const MAX_DRAWN = 300;

export class EventTable {
  private readonly log = new EventLog();
  private readonly expanded = new Set<number>();
  private filter: EventFilter = { kind: 'all', text: '' };
  private isScheduled = false;

  constructor(private readonly els: EventTableElements) {
    els.kind.append(
      el('option', { text: 'every kind', attrs: { value: 'all' } }),
      ...EVENT_KINDS.map((k) => el('option', { text: k, attrs: { value: k } })),
    );
    els.pause.addEventListener('click', () => {
      if (this.log.isPaused) this.log.resume();
      else this.log.pause();
      this.schedule();
    });
    els.clear.addEventListener('click', () => {
      this.log.clear();
      this.expanded.clear();
      this.schedule();
    });
    const onFilter = () => {
      this.filter = { kind: els.kind.value as EventFilter['kind'], text: els.text.value };
      this.schedule();
    };
    els.kind.addEventListener('change', onFilter);
    els.text.addEventListener('input', onFilter);
    this.render();
  }

  add(input: EventInput): void {
    this.log.add(input);
    this.schedule();
  }

  private schedule(): void {
    if (this.isScheduled) return;
    this.isScheduled = true;
    setTimeout(() => {
      this.isScheduled = false;
      this.render();
    }, 0);
  }

  private render(): void {
    const { els, log } = this;
    const shown = log.visible(this.filter);
    els.rows.replaceChildren(...shown.slice(0, MAX_DRAWN).flatMap((entry) => this.rowsOf(entry)));
    if (shown.length === 0) {
      const text =
        log.size === 0
          ? 'No events yet. Join a channel, then insert a row or send a broadcast.'
          : 'No event matches the filter.';
      els.rows.append(el('tr', { className: 'empty' }, [el('td', { text, attrs: { colspan: '5' } })]));
    }
    els.pause.textContent = log.isPaused ? `Resume (${log.heldCount} held)` : 'Pause';
    els.pause.setAttribute('aria-pressed', String(log.isPaused));
    const parts = [`${shown.length} shown of ${log.size}`];
    if (shown.length > MAX_DRAWN) parts.push(`the newest ${MAX_DRAWN} drawn`);
    if (log.dropped > 0) parts.push(`${log.dropped} oldest dropped (the list keeps ${log.capacity})`);
    els.counts.textContent = parts.join(' · ');
  }

  private rowsOf(entry: LoggedEvent): HTMLTableRowElement[] {
    const isOpen = this.expanded.has(entry.seq);
    const toggle = el('button', {
      className: 'toggle',
      text: isOpen ? '▾' : '▸',
      attrs: {
        type: 'button',
        'aria-expanded': String(isOpen),
        'aria-label': `details of event ${entry.seq}`,
      },
    });
    const row = el(
      'tr',
      {
        className: `event kind-${entry.kind}${entry.isError ? ' is-error' : ''}`,
        attrs: { 'data-seq': String(entry.seq), 'data-kind': entry.kind, 'data-event': entry.event },
      },
      [
        el('td', {}, [toggle]),
        el('td', { className: 'time', text: clockTime(entry.receivedAt) }),
        el('td', { className: 'kind', text: entry.kind }),
        el('td', { className: 'name', text: entry.event }),
        el('td', { className: 'summary', text: entry.summary }),
      ],
    );
    row.addEventListener('click', () => {
      if (isOpen) this.expanded.delete(entry.seq);
      else this.expanded.add(entry.seq);
      this.render();
    });
    if (!isOpen) return [row];
    const detail = el('tr', { className: 'detail' }, [
      el('td', { attrs: { colspan: '5' } }, [el('pre', { text: JSON.stringify(entry.detail, null, 2) })]),
    ]);
    return [row, detail];
  }
}
