/**
 * The inspector's event list as data: what arrived, newest first, bounded; held back while paused;
 * narrowed by a kind and a text filter. Pure (no DOM), so that it is unit-tested in Node.
 */

/** Where an entry came from. `channel` is the join status; `socket` the connection. */
export const EVENT_KINDS = [
  'postgres_changes',
  'broadcast',
  'presence',
  'system',
  'channel',
  'socket',
] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface EventInput {
  kind: EventKind;
  /** INSERT, the broadcast's event, join, SUBSCRIBED, close… */
  event: string;
  /** One line, shown in the table. */
  summary: string;
  /** Shown as JSON when the row is expanded. */
  detail: unknown;
  /** Shown as an error (refused join, closed socket, error reply). */
  isError?: boolean;
}

export interface LoggedEvent extends EventInput {
  /** 1, 2, 3… in arrival order; stable across pauses, filters and trimming. */
  seq: number;
  receivedAt: Date;
  /** Lower-cased text the filter searches: kind, event, summary and the detail as JSON. */
  searchText: string;
}

export interface EventFilter {
  /** `all`, or one kind. */
  kind: EventKind | 'all';
  /** Case-insensitive; every word must appear. */
  text: string;
}

/** How many entries are kept; older ones are dropped. */
export const DEFAULT_CAPACITY = 1000;

export class EventLog {
  private readonly entries: LoggedEvent[] = [];
  private held: LoggedEvent[] = [];
  private nextSeq = 1;
  private paused = false;
  /** Entries dropped for capacity since the last clear. */
  dropped = 0;

  constructor(readonly capacity = DEFAULT_CAPACITY) {}

  add(input: EventInput, receivedAt = new Date()): LoggedEvent {
    const entry: LoggedEvent = { ...input, seq: this.nextSeq++, receivedAt, searchText: searchTextOf(input) };
    if (this.paused) this.held.push(entry);
    else this.append([entry]);
    return entry;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Entries that arrived while paused, not shown yet. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Entries kept (shown or not, held ones excluded). */
  get size(): number {
    return this.entries.length;
  }

  pause(): void {
    this.paused = true;
  }

  /** Shows what arrived meanwhile, in arrival order. */
  resume(): void {
    this.paused = false;
    const held = this.held;
    this.held = [];
    this.append(held);
  }

  clear(): void {
    this.entries.length = 0;
    this.held = [];
    this.dropped = 0;
  }

  /** Kept entries that pass `filter`, newest first. */
  visible(filter: EventFilter): LoggedEvent[] {
    const words = filter.text
      .toLowerCase()
      .split(/\s+/)
      .filter((w) => w !== '');
    const out: LoggedEvent[] = [];
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i]!;
      if (filter.kind !== 'all' && entry.kind !== filter.kind) continue;
      if (words.every((w) => entry.searchText.includes(w))) out.push(entry);
    }
    return out;
  }

  private append(entries: readonly LoggedEvent[]): void {
    this.entries.push(...entries);
    const over = this.entries.length - this.capacity;
    if (over > 0) {
      this.entries.splice(0, over);
      this.dropped += over;
    }
  }
}

function searchTextOf(input: EventInput): string {
  let detail: string;
  try {
    detail = JSON.stringify(input.detail) ?? '';
  } catch {
    detail = ''; // a detail JSON cannot carry (a cycle): the summary is still searched
  }
  return `${input.kind} ${input.event} ${input.summary} ${detail}`.toLowerCase();
}

/** `text` cut to `max` characters with an ellipsis. */
export function clip(text: string, max = 160): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
