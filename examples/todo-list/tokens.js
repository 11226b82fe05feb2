/**
 * HS256 JWTs for the example: what Supabase Auth would issue, signed with the JWT_SECRET walcast
 * verifies tokens with. A user's id is derived from their name, so that signing in again as the
 * same name finds the same todos. For a demonstration only: anyone may sign in as anyone.
 */
'use strict';

const { createHash, createHmac, timingSafeEqual } = require('node:crypto');

const base64url = (data) => Buffer.from(data).toString('base64url');

/** A token of `claims`, valid for `ttlS` seconds. */
function signToken(secret, claims, ttlS = 3600) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(JSON.stringify({ iat: now, exp: now + ttlS, ...claims }));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** The claims of a token this server signed and that has not expired, else null. */
function verifyToken(secret, token) {
  const [header, payload, signature] = String(token).split('.');
  if (!header || !payload || !signature) return null;
  const expected = createHmac('sha256', secret).update(`${header}.${payload}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  return typeof claims.exp === 'number' && claims.exp > Date.now() / 1000 ? claims : null;
}

/** A stable UUID for a user name. */
function userIdFor(name) {
  const hex = createHash('sha256').update(`walcast-todo-example:${name.toLowerCase()}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

module.exports = { signToken, verifyToken, userIdFor };
