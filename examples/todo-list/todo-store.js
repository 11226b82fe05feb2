/**
 * The todos, read and written as the signed-in user, the way PostgREST does for supabase-js: each
 * statement runs in a transaction with `role` set to `authenticated` and `request.jwt.claims` to
 * the user's claims, so that the table's row-level security policies decide what it may touch.
 */
'use strict';

const { Pool } = require('pg');

class TodoStore {
  constructor(databaseUrl) {
    this.pool = new Pool({ connectionString: databaseUrl, max: 4 });
  }

  /** Runs schema.sql (idempotent). */
  async applySchema(sqlText) {
    await this.pool.query(sqlText);
  }

  list(claims) {
    return this.asUser(claims, 'select id, title, done from public.todos order by id', []);
  }

  async add(claims, title) {
    const rows = await this.asUser(
      claims,
      'insert into public.todos (title) values ($1) returning id, title, done',
      [title],
    );
    return rows[0];
  }

  async setDone(claims, id, done) {
    const rows = await this.asUser(
      claims,
      'update public.todos set done = $2 where id = $1 returning id, title, done',
      [id, done],
    );
    return rows[0] ?? null;
  }

  async remove(claims, id) {
    const rows = await this.asUser(claims, 'delete from public.todos where id = $1 returning id', [id]);
    return rows.length > 0;
  }

  close() {
    return this.pool.end();
  }

  async asUser(claims, text, params) {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      await client.query(
        `select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true)`,
        [JSON.stringify(claims)],
      );
      const { rows } = await client.query(text, params);
      await client.query('commit');
      return rows;
    } catch (err) {
      await client.query('rollback').catch(() => undefined); // the connection may be gone: the error below says why
      throw err;
    } finally {
      client.release();
    }
  }
}

module.exports = { TodoStore };
