/**
 * The inspector page's wiring: the form, the event table, the broadcast and presence panels and one
 * InspectorSession on this gateway's origin. Everything runs in the browser; the page holds no
 * setting of the gateway and stores nothing.
 */
import { BindingsEditor } from './bindings-editor';
import { channelRequest, jsonObject, type ChannelFields } from './channel-request';
import { byId, el } from './dom';
import { EventTable } from './event-table';
import { STATUS_TEXT } from './event-inputs';
import { InspectorSession, type JoinState } from './inspector-session';
import { readPageQuery } from './page-query';
import { renderPresence } from './presence-panel';

const input = (id: string) => byId(id, HTMLInputElement);
const button = (id: string) => byId(id, HTMLButtonElement);

const STATE_LABELS: Record<JoinState, string> = {
  idle: 'not joined',
  joining: 'joining…',
  SUBSCRIBED: 'joined',
  CHANNEL_ERROR: 'channel error',
  TIMED_OUT: 'timed out',
  CLOSED: 'closed',
};

/** What a transport failure most often means here. */
const TRANSPORT_HINT =
  'the websocket did not connect: with secure channels a missing or invalid token is refused (see the socket events)';

function start(): void {
  const bindings = new BindingsEditor(byId('binding-rows', HTMLTableSectionElement));
  const events = new EventTable({
    rows: byId('event-rows', HTMLTableSectionElement),
    pause: button('pause'),
    clear: button('clear'),
    kind: byId('kind-filter', HTMLSelectElement),
    text: input('text-filter'),
    counts: byId('event-counts', HTMLElement),
  });
  const problems = byId('problems', HTMLUListElement);
  const showProblems = (list: readonly string[]) =>
    problems.replaceChildren(...list.map((text) => el('li', { text })));
  const lastError = byId('last-error', HTMLElement);
  const session = new InspectorSession(window.location.origin, {
    event: (entry) => {
      events.add(entry);
      // The latest error stays in sight, whatever the list shows; a new join clears it.
      if (entry.isError) lastError.textContent = `last error: ${entry.kind} ${entry.event}: ${entry.summary}`;
    },
    state: showState,
    presence: (present) =>
      renderPresence(byId('present', HTMLUListElement), byId('present-count', HTMLElement), present),
  });

  function showState(state: JoinState, reason: string | null): void {
    const badge = byId('join-state', HTMLElement);
    badge.textContent = STATE_LABELS[state];
    badge.className = `state state-${state.toLowerCase()}`;
    const why = byId('join-reason', HTMLElement);
    why.textContent = reason ?? (state === 'idle' || state === 'joining' ? '' : (STATUS_TEXT[state] ?? ''));
    if (reason && /transport/i.test(reason)) why.textContent += ` — ${TRANSPORT_HINT}`;
    why.classList.toggle('is-error', state === 'CHANNEL_ERROR' || state === 'TIMED_OUT');
    const isJoined = state === 'SUBSCRIBED';
    for (const id of ['send', 'track', 'untrack']) button(id).disabled = !isJoined;
    button('leave').disabled = state === 'idle';
  }

  const fields = (): ChannelFields => ({
    channel: input('channel').value,
    token: input('token').value,
    isPrivate: input('private').checked,
    bindings: bindings.fields(),
    broadcast: input('broadcast').checked,
    broadcastSelf: input('broadcast-self').checked,
    broadcastAck: input('broadcast-ack').checked,
    presence: input('presence').checked,
    presenceKey: input('presence-key').value,
  });

  const join = () => {
    const checked = channelRequest(fields());
    if (!checked.ok) {
      showProblems(checked.problems);
      return;
    }
    showProblems([]);
    lastError.textContent = '';
    session.join(checked.value);
  };

  byId('join-form', HTMLFormElement).addEventListener('submit', (e) => {
    e.preventDefault();
    join();
  });
  button('add-binding').addEventListener('click', () => bindings.add());
  button('leave').addEventListener('click', () => void session.leave());
  wireSending(session, showProblems);

  const query = readPageQuery(window.location.search);
  if (query.channel !== null) input('channel').value = query.channel;
  input('private').checked = query.isPrivate;
  bindings.add(query.binding ?? {});
  showState('idle', null);
  if (query.joinsAtOnce) join();
}

/** The broadcast and presence buttons: each answer (ok, timed out, error) shown beside them. */
function wireSending(session: InspectorSession, showProblems: (list: readonly string[]) => void): void {
  const answer = (id: string, promise: Promise<string>) => {
    const out = byId(id, HTMLElement);
    out.textContent = '…';
    promise.then(
      (result) => {
        out.textContent = result;
        out.classList.toggle('is-error', result !== 'ok');
      },
      (err: unknown) => {
        out.textContent = err instanceof Error ? err.message : String(err);
        out.classList.add('is-error');
      },
    );
  };
  const payload = (id: string, label: string) => {
    const checked = jsonObject(byId(id, HTMLTextAreaElement).value, label);
    showProblems(checked.ok ? [] : checked.problems);
    return checked.ok ? checked.value : null;
  };
  button('send').addEventListener('click', () => {
    const body = payload('broadcast-payload', 'Broadcast payload');
    const event = input('broadcast-event').value.trim() || 'message';
    if (body) answer('send-result', session.broadcast(event, body));
  });
  button('track').addEventListener('click', () => {
    const body = payload('presence-payload', 'Presence payload');
    if (body) answer('track-result', session.track(body));
  });
  button('untrack').addEventListener('click', () => answer('track-result', session.untrack()));
}

start();
