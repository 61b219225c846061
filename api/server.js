#!/usr/bin/env node
// api/server.js — Phoenix's Universal API: PostGraphile 4 as a library inside
// a plain Node HTTP server.  POST /graphql (queries, mutations), GET /graphiql,
// WebSocket /graphql (subscriptions: graphql-transport-ws and graphql-ws).
//
//   DATABASE_URL         required: a login like phoenix_api (NOINHERIT, member
//                        of phoenix_reader/writer/admin and phoenix_anonymous)
//   PHOENIX_JWT_SECRET   required: the HS256 secret tokens are signed with
//   PHOENIX_API_PORT     default 5480
//   PHOENIX_API_HOST     default 127.0.0.1
//   PHOENIX_API_EXPORT_SCHEMA  write the generated schema (SDL) to this file
//   PHOENIX_API_ALLOW_EXPLAIN=1  answer X-PostGraphile-Explain: on with the
//                        SQL and plans (debugging; never on a public server)
'use strict';

const http = require('http');
const { postgraphile, enhanceHttpServerWithSubscriptions } = require('postgraphile');
const { SCHEMAS, postgraphileOptions } = require('./lib/options');

function fail(message) {
  process.stderr.write(`phoenix api: ${message}\n`);
  process.exit(2);
}

const databaseUrl = process.env.DATABASE_URL;
const jwtSecret = process.env.PHOENIX_JWT_SECRET;
const port = Number(process.env.PHOENIX_API_PORT || 5480);
const host = process.env.PHOENIX_API_HOST || '127.0.0.1';
if (!databaseUrl) fail('set DATABASE_URL (e.g. postgres://phoenix_api@127.0.0.1:5432/phoenix)');
if (!jwtSecret) fail('set PHOENIX_JWT_SECRET (the HS256 secret the tokens are signed with)');
if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`PHOENIX_API_PORT is not a port: ${process.env.PHOENIX_API_PORT}`);

const middleware = postgraphile(databaseUrl, SCHEMAS, postgraphileOptions({
  jwtSecret,
  exportSchema: process.env.PHOENIX_API_EXPORT_SCHEMA,
  allowExplain: process.env.PHOENIX_API_ALLOW_EXPLAIN === '1',
}));
const server = http.createServer(middleware);
// WebSocket upgrades are refused (405) until the server is enhanced: do it
// now rather than on the first HTTP request.
enhanceHttpServerWithSubscriptions(server, middleware);

server.on('error', e => fail(e.message));
server.listen(port, host, () => {
  // one line a script can wait for
  process.stdout.write(`phoenix api: listening on http://${host}:${server.address().port}/graphql\n`);
});

// The LISTEN connection of subscriptions keeps the event loop alive: stop
// the server and the pools, then exit.
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close();
  Promise.resolve(middleware.release && middleware.release())
    .catch(() => {})
    .finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
