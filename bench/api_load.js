#!/usr/bin/env node
// bench/api_load.js — N clients, each posting one `emit` mutation after
// another to the Universal API for SECONDS; prints completed emits per
// second.  Used by bench/api.sh.
//   node bench/api_load.js URL TOKEN CLIENTS SECONDS PAYLOAD_JSON
'use strict';

const [url, token, clients, seconds, payload] = process.argv.slice(2);
const body = JSON.stringify({
  query: 'mutation ($p: JSON!) { emit(input: {eventType: "presence.detected", payload: $p}) { position } }',
  variables: { p: JSON.parse(payload) },
});
const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };

async function client(deadline) {
  let n = 0;
  while (Date.now() < deadline) {
    const res = await fetch(url, { method: 'POST', headers, body });
    const out = await res.json();
    if (res.status !== 200 || out.errors) throw new Error(JSON.stringify(out));
    n++;
  }
  return n;
}

(async () => {
  // warm up the connection pool and the server's caches, untimed
  await Promise.all(Array.from({ length: Number(clients) }, () => client(Date.now() + 500)));
  const t0 = Date.now();
  const counts = await Promise.all(Array.from({ length: Number(clients) }, () => client(t0 + Number(seconds) * 1000)));
  const elapsed = (Date.now() - t0) / 1000;
  process.stdout.write(`${(counts.reduce((a, b) => a + b, 0) / elapsed).toFixed(1)}\n`);
})().catch(e => { process.stderr.write(`${e.message}\n`); process.exit(1); });
