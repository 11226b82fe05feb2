#!/usr/bin/env node
/**
 * Follows one table of a running walcast and prints each change as it is committed, with the
 * published supabase-js, as a Node application would. See README.md.
 *
 *   node examples/follow-table/follow-table.js [schema.]table [filter]
 *
 * WALCAST_URL (default: `pnpm dev`'s, else http://127.0.0.1:4000) and WALCAST_TOKEN (default: the
 * anon key of `pnpm dev --secure`, else none) say where and as whom.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { createClient } = require('@supabase/supabase-js');
const WebSocket = require('ws');

/** `pnpm dev` writes where it runs to .walcast/dev.json; settings in the environment win. */
function devStack() {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', '.walcast', 'dev.json'), 'utf8'));
  } catch {
    return {}; // no `pnpm dev` running from this checkout: the defaults below apply
  }
}

const [target = 'public.users', filter] = process.argv.slice(2);
const [schema, table] = target.includes('.') ? target.split('.', 2) : ['public', target];
const dev = devStack();
const url = process.env.WALCAST_URL ?? dev.httpUrl ?? 'http://127.0.0.1:4000';
// supabase-js needs a key; with channels open any will do.
const key = process.env.WALCAST_TOKEN ?? dev.anonKey ?? 'any-key';

const supabase = createClient(url, key, {
  // Node 20 has no WebSocket of its own.
  realtime: { transport: WebSocket },
  auth: { persistSession: false, autoRefreshToken: false },
});

const channel = supabase
  .channel(`follow:${schema}.${table}`)
  .on('postgres_changes', { event: '*', schema, table, ...(filter ? { filter } : {}) }, (change) => {
    const row = change.eventType === 'DELETE' ? change.old : change.new;
    console.log(`${change.commit_timestamp} ${change.eventType} ${schema}.${table} ${JSON.stringify(row)}`);
  })
  .subscribe((status, err) => {
    if (status === 'SUBSCRIBED')
      console.error(
        `following ${schema}.${table}${filter ? ` where ${filter}` : ''} on ${url} (Ctrl-C to stop)`,
      );
    else console.error(`${status}${err ? `: ${err.message}` : ''}`);
  });

process.on('SIGINT', () => {
  void supabase.removeChannel(channel).finally(() => process.exit(0));
});
process.on('SIGTERM', () => process.exit(0));
