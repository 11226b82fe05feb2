#!/usr/bin/env node
/**
 * The todo list example's server (README.md): serves the page and supabase-js's browser build, signs
 * users in (a JWT per name, as Supabase Auth would issue), and reads and writes todos as the user
 * (what PostgREST does for supabase-js). Realtime is not here: the page talks to walcast directly.
 *
 *   node examples/todo-list/server.js        # after `pnpm dev --secure`
 *
 * Settings: WALCAST_URL, DATABASE_URL and JWT_SECRET (default: `.walcast/dev.json`, written by
 * `pnpm dev`), PORT (3000) and HOST (127.0.0.1).
 */
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { signToken, userIdFor, verifyToken } = require('./tokens');
const { TodoStore } = require('./todo-store');

const PUBLIC = path.join(__dirname, 'public');
const STATIC = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};
// supabase-js's own browser build (what `<script src="https://cdn.jsdelivr.net/npm/@supabase/supabase-js@2">` loads).
const SUPABASE_UMD = path.join(path.dirname(require.resolve('@supabase/supabase-js')), 'umd', 'supabase.js');

function settings() {
  let dev = {};
  try {
    dev = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '.walcast', 'dev.json'), 'utf8'));
  } catch {
    // no `pnpm dev` running from this checkout: the environment must say everything
  }
  const s = {
    walcastUrl: process.env.WALCAST_URL ?? dev.httpUrl,
    databaseUrl: process.env.DATABASE_URL ?? dev.databaseUrl,
    jwtSecret: process.env.JWT_SECRET ?? dev.jwtSecret,
    port: Number(process.env.PORT ?? 3000),
    host: process.env.HOST ?? '127.0.0.1',
  };
  const missing = Object.entries({
    WALCAST_URL: s.walcastUrl,
    DATABASE_URL: s.databaseUrl,
    JWT_SECRET: s.jwtSecret,
  })
    .filter(([, value]) => !value)
    .map(([name]) => name);
  if (missing.length > 0) {
    const hint = dev.httpUrl
      ? '`pnpm dev` runs with open channels: this example shows row-level security, which needs tokens; stop it and run `pnpm dev --secure`'
      : 'run `pnpm dev --secure` first, or set them';
    throw new Error(`missing ${missing.join(', ')}: ${hint}`);
  }
  return s;
}

/** The page's Content-Security-Policy: its own files, and walcast for the websocket. */
function contentSecurityPolicy(walcastUrl) {
  const origin = new URL(walcastUrl).origin;
  const wsOrigin = origin.replace(/^http/, 'ws');
  return `default-src 'self'; connect-src 'self' ${origin} ${wsOrigin}; img-src 'self' data:; frame-ancestors 'none'`;
}

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(type === 'application/json' ? JSON.stringify(body) : body);
}

async function readJson(req) {
  let text = '';
  for await (const chunk of req) {
    text += chunk;
    if (text.length > 10_000) throw Object.assign(new Error('body too large'), { status: 413 });
  }
  return text === '' ? {} : JSON.parse(text);
}

function createApp(s, store) {
  const csp = contentSecurityPolicy(s.walcastUrl);
  const anonKey = signToken(s.jwtSecret, { role: 'anon' }, 24 * 3600);
  const claimsOf = (req) =>
    verifyToken(s.jwtSecret, (req.headers.authorization ?? '').replace(/^Bearer /, ''));

  return async function handle(req, res) {
    const { pathname } = new URL(req.url, 'http://localhost');
    const file = STATIC[pathname];
    if (req.method === 'GET' && (file || pathname === '/vendor/supabase.js')) {
      const [name, type] = file ?? [null, 'text/javascript; charset=utf-8'];
      res.writeHead(200, {
        'content-type': type,
        'content-security-policy': csp,
        'x-content-type-options': 'nosniff',
      });
      fs.createReadStream(name ? path.join(PUBLIC, name) : SUPABASE_UMD).pipe(res);
      return;
    }
    if (req.method === 'GET' && pathname === '/config.json') {
      return send(res, 200, { walcastUrl: s.walcastUrl, anonKey });
    }
    if (req.method === 'POST' && pathname === '/session') {
      const name = String((await readJson(req)).name ?? '').trim();
      if (name === '' || name.length > 40) return send(res, 400, { error: 'a name of 1 to 40 characters' });
      const user = { id: userIdFor(name), name };
      const token = signToken(s.jwtSecret, { sub: user.id, role: 'authenticated', user_metadata: { name } });
      return send(res, 200, { token, user });
    }
    if (!pathname.startsWith('/todos')) return send(res, 404, { error: 'not found' });
    const claims = claimsOf(req);
    if (!claims) return send(res, 401, { error: 'sign in first' });
    const id = Number(pathname.split('/')[2]);
    if (req.method === 'GET' && pathname === '/todos') return send(res, 200, await store.list(claims));
    if (req.method === 'POST' && pathname === '/todos') {
      const title = String((await readJson(req)).title ?? '').trim();
      return send(res, 201, await store.add(claims, title));
    }
    if (req.method === 'PATCH' && Number.isInteger(id)) {
      const todo = await store.setDone(claims, id, (await readJson(req)).done === true);
      return todo ? send(res, 200, todo) : send(res, 404, { error: 'no such todo' });
    }
    if (req.method === 'DELETE' && Number.isInteger(id)) {
      return (await store.remove(claims, id))
        ? send(res, 200, { id })
        : send(res, 404, { error: 'no such todo' });
    }
    return send(res, 404, { error: 'not found' });
  };
}

async function main() {
  const s = settings();
  const store = new TodoStore(s.databaseUrl);
  await store.applySchema(fs.readFileSync(path.join(__dirname, 'schema.sql'), 'utf8'));
  const handle = createApp(s, store);
  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      // A constraint or policy refusal is the user's to fix (an empty title, someone else's todo).
      const status = err.status ?? (err.code === '23514' || err.code === '42501' ? 400 : 500);
      if (status === 500) console.error(err);
      if (!res.headersSent) send(res, status, { error: err.message });
    });
  });
  server.listen(s.port, s.host, () => {
    const url = `http://${s.host}:${server.address().port}/`;
    console.log(`todo list: ${url}  (on walcast ${s.walcastUrl})`);
    console.log(`  open it twice, as two people: ${url}?name=alice and ${url}?name=bob`);
  });
  const stop = () => server.close(() => void store.close().then(() => process.exit(0)));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err) => {
  console.error(`todo list: ${err.message}`);
  process.exit(1);
});
