// test/api/client.js — a plain GraphQL client for the API tests: queries
// over fetch, subscriptions over WebSocket (graphql-transport-ws), HS256
// tokens signed with node:crypto, and a superuser pg connection for what
// GraphQL cannot do (a transaction that rolls back).
//
//   PHOENIX_API_URL       http://127.0.0.1:PORT/graphql of a running server
//   PHOENIX_JWT_SECRET    the server's secret
//   PHOENIX_TEST_DB_URL   a superuser connection to the server's database
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');

const apiModules = path.join(__dirname, '..', '..', 'api', 'node_modules');
const WebSocket = require(path.join(apiModules, 'ws'));
const pg = require(path.join(apiModules, 'pg'));

const URL_ = process.env.PHOENIX_API_URL;
const SECRET = process.env.PHOENIX_JWT_SECRET;
if (!URL_ || !SECRET || !process.env.PHOENIX_TEST_DB_URL) {
  throw new Error('set PHOENIX_API_URL, PHOENIX_JWT_SECRET and PHOENIX_TEST_DB_URL (scripts/test.sh does)');
}

const b64url = b => Buffer.from(b).toString('base64url');
function token(claims, secret = SECRET) {
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(claims));
  const sig = crypto.createHmac('sha256', secret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}
const tokenFor = role => token({ role, exp: Math.floor(Date.now() / 1000) + 3600 });

// POST one operation; resolves to { status, body } (body: data/errors).
async function gql(query, { variables, as, explain } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (as) headers.authorization = `Bearer ${as}`;
  if (explain) headers['x-postgraphile-explain'] = 'on';
  const res = await fetch(URL_, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: await res.json() };
}

// gql, failing the test on any error; resolves to data.
async function data(query, opts) {
  const { status, body } = await gql(query, opts);
  if (status !== 200 || body.errors) {
    throw new Error(`GraphQL ${status}: ${JSON.stringify(body.errors || body)}`);
  }
  return body.data;
}

// A subscription: messages are queued; next(ms) waits for the next one
// (a `next` payload, or an `error`), null when none came within ms.
function subscribe(query, { variables, as } = {}) {
  const ws = new WebSocket(URL_.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const queue = [];
  const waiters = [];
  const push = m => { const w = waiters.shift(); if (w) w(m); else queue.push(m); };
  const acked = new Promise((resolve, reject) => {
    ws.on('open', () => ws.send(JSON.stringify({
      type: 'connection_init', payload: as ? { authorization: `Bearer ${as}` } : {},
    })));
    ws.on('error', reject);
    ws.on('close', (code, reason) => push({ type: 'closed', code, reason: String(reason) }));
    ws.on('message', raw => {
      const m = JSON.parse(raw);
      if (m.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query, variables } }));
        resolve();
      } else if (m.type === 'next' || m.type === 'error' || m.type === 'complete') {
        push(m);
      } else if (m.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong' }));
      }
    });
  });
  return {
    ready: acked,
    next(ms = 5000) {
      if (queue.length) return Promise.resolve(queue.shift());
      return new Promise(resolve => {
        const w = m => { clearTimeout(t); resolve(m); };
        const t = setTimeout(() => { waiters.splice(waiters.indexOf(w), 1); resolve(null); }, ms);
        waiters.push(w);
      });
    },
    close() {
      try { ws.send(JSON.stringify({ id: '1', type: 'complete' })); } catch (_) { /* closed */ }
      ws.close();
    },
  };
}

async function withDb(fn) {
  const client = new pg.Client({ connectionString: process.env.PHOENIX_TEST_DB_URL });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

module.exports = { token, tokenFor, gql, data, subscribe, withDb };
