/**
 * The todo list page (README.md), plain JavaScript on supabase-js's browser build, pointed at
 * walcast as the Supabase URL:
 * - postgres_changes on public.todos: walcast sends each user only the rows its row-level security
 *   policy lets them see (their own todos);
 * - presence: who is online in the room;
 * - broadcast: messages to everyone in the room.
 * The list is loaded once the channel is SUBSCRIBED, so that no change committed in between is
 * missed, and changes are applied by id, so that one seen twice does no harm.
 */
'use strict';

const $ = (id) => document.getElementById(id);
const state = { token: null, user: null, client: null, room: null, todos: new Map() };

async function api(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(state.token ? { authorization: `Bearer ${state.token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = await res.json();
  if (!res.ok) throw new Error(data.error ?? `${method} ${path}: ${res.status}`);
  return data;
}

function showError(err) {
  $('error').textContent = err ? String(err.message ?? err) : '';
}

async function signIn(name) {
  const { token, user } = await api('POST', '/session', { name });
  const { walcastUrl, anonKey } = await api('GET', '/config.json');
  Object.assign(state, { token, user });
  // The Supabase URL is walcast's. The anon key opens the websocket; channels join with the user's
  // token (what supabase.auth would hand over after a sign-in).
  state.client = supabase.createClient(walcastUrl, anonKey, {
    accessToken: async () => state.token,
  });
  // Fetch the token before the first join: a join sent before it resolves would carry none, and
  // walcast would then authorize the channel with the anon key.
  await state.client.realtime.setAuth();
  document.body.dataset.userId = user.id;
  $('me').textContent = user.name;
  $('my-id').textContent = user.id;
  $('sign-in').hidden = true;
  $('todo-panel').hidden = false;
  $('room-panel').hidden = false;
  joinRoom();
}

function joinRoom() {
  const room = state.client.channel('todo-room', {
    config: { presence: { key: state.user.id, enabled: true }, broadcast: { self: true } },
  });
  room
    .on('postgres_changes', { event: '*', schema: 'public', table: 'todos' }, applyChange)
    .on('broadcast', { event: 'message' }, ({ payload }) => addMessage(payload))
    .on('presence', { event: 'sync' }, () => renderPeople(room.presenceState()))
    .subscribe(async (status, err) => {
      setStatus(status, err);
      if (status !== 'SUBSCRIBED') return;
      try {
        for (const todo of await api('GET', '/todos')) state.todos.set(todo.id, todo);
        renderTodos();
        await room.track({ name: state.user.name, online_at: new Date().toISOString() });
      } catch (e) {
        showError(e);
      }
    });
  state.room = room;
}

function setStatus(status, err) {
  const text = { SUBSCRIBED: 'live', CHANNEL_ERROR: 'error', TIMED_OUT: 'timed out', CLOSED: 'closed' };
  $('status').textContent = err ? `${text[status] ?? status}: ${err.message}` : (text[status] ?? status);
  $('status').className = `status ${status === 'SUBSCRIBED' ? 'live' : 'error'}`;
}

/** A change of public.todos: the new row, or for a delete the old one (only its id for others' rows). */
function applyChange(change) {
  if (change.eventType === 'DELETE') state.todos.delete(change.old.id);
  else state.todos.set(change.new.id, change.new);
  renderTodos();
}

function renderTodos() {
  const items = [...state.todos.values()]
    .sort((a, b) => a.id - b.id)
    .map((todo) => {
      const li = document.createElement('li');
      li.dataset.id = String(todo.id);
      li.className = todo.done ? 'done' : '';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.checked = todo.done;
      box.setAttribute('aria-label', `done: ${todo.title}`);
      box.addEventListener('change', () =>
        api('PATCH', `/todos/${todo.id}`, { done: box.checked }).catch(showError),
      );
      const title = document.createElement('span');
      title.className = 'title';
      title.textContent = todo.title;
      const remove = document.createElement('button');
      remove.textContent = 'Delete';
      remove.addEventListener('click', () => api('DELETE', `/todos/${todo.id}`).catch(showError));
      li.append(box, title, remove);
      return li;
    });
  $('todos').replaceChildren(...items);
}

/** presenceState(): user id → what each of their windows tracked. */
function renderPeople(present) {
  const names = Object.values(present).map((metas) => metas[0]?.name ?? '?');
  $('people').replaceChildren(
    ...names.sort().map((name) => {
      const li = document.createElement('li');
      li.textContent = name;
      return li;
    }),
  );
}

function addMessage({ from, text }) {
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'from';
  who.textContent = String(from);
  li.append(who, String(text));
  $('messages').prepend(li);
}

$('sign-in-form').addEventListener('submit', (e) => {
  e.preventDefault();
  signIn($('name').value.trim()).catch(showError);
});
$('add-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const title = $('title').value.trim();
  $('title').value = '';
  // The new todo appears when walcast delivers its INSERT, like everyone else's changes.
  api('POST', '/todos', { title }).then(() => showError(null), showError);
});
$('say-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('message').value.trim();
  $('message').value = '';
  state.room.send({ type: 'broadcast', event: 'message', payload: { from: state.user.name, text } });
});

const named = new URLSearchParams(window.location.search).get('name');
if (named) signIn(named).catch(showError);
