/**
 * The `postgres_changes` rows of the form: schema, table, event and filter per binding, added and
 * removed by the user.
 */
import { CHANGE_EVENTS, type BindingFields } from './channel-request';
import { el } from './dom';

interface BindingRow {
  row: HTMLTableRowElement;
  schema: HTMLInputElement;
  table: HTMLInputElement;
  event: HTMLSelectElement;
  filter: HTMLInputElement;
}

export class BindingsEditor {
  private readonly rows: BindingRow[] = [];

  constructor(private readonly body: HTMLTableSectionElement) {}

  /** Adds a row, filled with `fields` where given. */
  add(fields: Partial<BindingFields> = {}): void {
    const n = this.rows.length + 1;
    const input = (name: string, value: string, placeholder: string) =>
      el('input', {
        className: `binding-${name}`,
        attrs: { 'aria-label': `${name} ${n}`, placeholder, value, spellcheck: 'false' },
      });
    const schema = input('schema', fields.schema ?? 'public', 'public');
    const table = input('table', fields.table ?? '', 'every table');
    const filter = input('filter', fields.filter ?? '', 'e.g. id=gt.10');
    const event = el(
      'select',
      { className: 'binding-event', attrs: { 'aria-label': `event ${n}` } },
      CHANGE_EVENTS.map((e) => el('option', { text: e, attrs: { value: e } })),
    );
    event.value = (fields.event ?? '*').toUpperCase();
    const remove = el('button', {
      className: 'remove',
      text: '✕',
      attrs: { type: 'button', 'aria-label': `remove binding ${n}`, title: 'remove this binding' },
    });
    const row = el('tr', {}, [
      el('td', {}, [schema]),
      el('td', {}, [table]),
      el('td', {}, [event]),
      el('td', {}, [filter]),
      el('td', {}, [remove]),
    ]);
    const entry: BindingRow = { row, schema, table, event, filter };
    remove.addEventListener('click', () => {
      this.rows.splice(this.rows.indexOf(entry), 1);
      row.remove();
    });
    this.rows.push(entry);
    this.body.append(row);
  }

  fields(): BindingFields[] {
    return this.rows.map((r) => ({
      schema: r.schema.value,
      table: r.table.value,
      event: r.event.value,
      filter: r.filter.value,
    }));
  }
}
