// test/api/api.test.js — the Universal API over HTTP and WebSocket, against a
// running server (scripts/test.sh starts one on the test cluster, with the
// model of test/api/setup.sql).  Each test uses its own employee keys.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { token, tokenFor, gql, data, subscribe, withDb } = require('./client');

const reader = tokenFor('phoenix_reader');
const writer = tokenFor('phoenix_writer');
const admin = tokenFor('phoenix_admin');

const EMIT = `mutation ($type: String!, $payload: JSON!, $id: String, $at: Datetime) {
  emit(input: {eventType: $type, payload: $payload, eventId: $id, effectiveAt: $at}) { position } }`;
const emit = (type, payload, id, as = writer) => gql(EMIT, { variables: { type, payload, id }, as });
const presence = (emp, day, hour = 13) => ({
  employeeId: emp, floorId: 'F1', detectedAt: `2025-03-${day}T${String(hour).padStart(2, '0')}:00:00Z`,
});
const WEEK = [10, 11, 12, 13, 14]; // Mon 2025-03-10 .. Fri 2025-03-14

const ROWS = `subscription ($p: String!) { projectionRows(projection: $p) { projection rows } }`;

// The SQLSTATE of the first error of a response.
const sqlstate = body => body.errors && body.errors[0].extensions && body.errors[0].extensions.sqlstate;

// The errors of a refused subscription: an `error` message, or a `next`
// whose payload has errors and no data.
function refusal(m) {
  if (m.type === 'error') return m.payload;
  assert.equal(m.type, 'next', JSON.stringify(m));
  assert.ok(m.payload.errors && !m.payload.data, JSON.stringify(m));
  return m.payload.errors;
}

// Wait until a subscriber is listening: emit probe events (their own keys)
// until one comes through, then drain.  Nothing is timed: a probe that is
// missed is simply followed by another.
async function listening(sub, tag) {
  await sub.ready;
  for (let i = 0; i < 100; i++) {
    const r = await emit('presence.detected', presence(`PROBE-${tag}-${i}`, 10), `probe-${tag}-${i}`);
    assert.equal(r.body.errors, undefined, JSON.stringify(r.body.errors));
    const m = await sub.next(200);
    if (m) {
      assert.equal(m.type, 'next', JSON.stringify(m));
      while (await sub.next(300)) { /* late probes */ }
      return;
    }
  }
  assert.fail('the subscription never received a probe');
}

// Rows of the next messages (ignoring probes) until `want` rows came.
async function rowsOf(sub, want) {
  const rows = [];
  while (rows.length < want) {
    const m = await sub.next(10000);
    assert.ok(m, `only ${rows.length} of ${want} rows arrived`);
    assert.equal(m.type, 'next', JSON.stringify(m));
    assert.equal(m.payload.errors, undefined, JSON.stringify(m.payload.errors));
    rows.push(...m.payload.data.projectionRows.rows.filter(r => !r.employeeId.startsWith('PROBE-')));
  }
  return rows;
}

test('story 1 through GraphQL: Finance Mon–Tue, Accounting Wed–Fri', async () => {
  await data(EMIT, { as: writer, variables: {
    type: 'employee.transferred',
    payload: { employeeId: 'S1', department: 'Finance', effectiveAt: '2025-01-01T00:00:00Z' } } });
  // Wednesday, real time: the transfer
  await data(EMIT, { as: writer, variables: {
    type: 'employee.transferred',
    payload: { employeeId: 'S1', department: 'Accounting', effectiveAt: '2025-03-12T00:00:00-04:00' } } });
  // Friday: the week's presence, late, as one batch
  const batch = await data(`mutation ($events: [JSON!]!) {
      emitBatch(input: {events: $events, source: "badge-upload"}) { accepted rejected } }`,
  { as: writer, variables: { events: WEEK.map(d => ({ type: 'presence.detected', event_id: `s1-${d}`, payload: presence('S1', d) })) } });
  assert.deepEqual(batch.emitBatch, { accepted: '5', rejected: '0' });

  const report = await data(`{ allPresenceReports(filter: {employeeId: {equalTo: "S1"}}, orderBy: EFFECTIVE_AT_ASC) {
      totalCount nodes { effectiveAt localDate employeeDepartment siteName } } }`, { as: reader });
  assert.equal(report.allPresenceReports.totalCount, 5);
  assert.deepEqual(report.allPresenceReports.nodes.map(n => [n.localDate, n.employeeDepartment]), [
    ['2025-03-10', 'Finance'], ['2025-03-11', 'Finance'],
    ['2025-03-12', 'Accounting'], ['2025-03-13', 'Accounting'], ['2025-03-14', 'Accounting']]);
  assert.equal(report.allPresenceReports.nodes[0].effectiveAt, '2025-03-10T13:00:00+00:00');
  assert.equal(report.allPresenceReports.nodes[0].siteName, 'New York');

  // the same through other filters and the as-of reads
  const wed = await data(`{ allPresenceReports(filter: {employeeId: {in: ["S1"]},
      employeeDepartment: {equalTo: "Accounting"}, localDate: {lessThan: "2025-03-13"}}) { nodes { localDate } } }`,
  { as: reader });
  assert.deepEqual(wed.allPresenceReports.nodes, [{ localDate: '2025-03-12' }]);
  const asOf = await data(`{
      tue: entityAsOf(entity: "employee", key: "S1", validAt: "2025-03-11T12:00:00Z")
      thu: entityAsOf(entity: "employee", key: "S1", validAt: "2025-03-13T12:00:00Z")
      entityHistory(entity: "employee", key: "S1") { nodes { validFrom validTo attributes } } }`, { as: reader });
  assert.equal(asOf.tue.department, 'Finance');
  assert.equal(asOf.thu.department, 'Accounting');
  assert.deepEqual(asOf.entityHistory.nodes.map(n => [n.validFrom, n.validTo, n.attributes.department]), [
    ['2025-01-01T00:00:00+00:00', '2025-03-12T04:00:00+00:00', 'Finance'],
    ['2025-03-12T04:00:00+00:00', 'infinity', 'Accounting']]);
});

test('emit returns the log position; an idempotent repeat returns the same one', async () => {
  const p = presence('I1', 10);
  const first = await data(EMIT, { as: writer, variables: { type: 'presence.detected', payload: p, id: 'idem-1' } });
  const again = await data(EMIT, { as: writer, variables: { type: 'presence.detected', payload: p, id: 'idem-1' } });
  assert.match(first.emit.position, /^[0-9]+$/); // BigInt: a string
  assert.equal(again.emit.position, first.emit.position);
  const other = await emit('presence.detected', presence('I1', 11), 'idem-1');
  assert.equal(sqlstate(other.body), 'PX005');
});

test('the event types with their current version and schema', async () => {
  const { allEventTypes } = await data('{ allEventTypes(orderBy: NAME_ASC) { nodes { name version schema } } }',
    { as: writer });
  assert.deepEqual(allEventTypes.nodes.map(n => [n.name, n.version]),
    [['employee.transferred', 1], ['presence.detected', 1]]);
  assert.deepEqual(allEventTypes.nodes[1].schema.required, ['employeeId', 'floorId', 'detectedAt']);
});

test('a schema violation returns its paths, keywords and SQLSTATE', async () => {
  const { status, body } = await emit('presence.detected', { employeeId: 7, floorId: 'F1' }, 'bad-1');
  assert.equal(status, 200);
  assert.equal(body.data.emit, null);
  const e = body.errors[0];
  assert.equal(e.extensions.sqlstate, 'PX001');
  assert.match(e.extensions.exception.hint, /schema/);
  assert.deepEqual(e.extensions.schemaErrors.map(s => [s.path, s.keyword]).sort(), [
    ['$', 'required'], ['$.employeeId', 'type']]);
  const unknown = await emit('no.such.type', {}, 'bad-2');
  assert.equal(sqlstate(unknown.body), '42704');
});

test('emitBatch: bad elements are counted, never abort their neighbours; 1,000 events fit', async () => {
  const { emitBatch } = await data(`mutation ($e: [JSON!]!) { emitBatch(input: {events: $e}) { accepted rejected } }`,
    { as: writer, variables: { e: [
      { eventType: 'presence.detected', eventId: 'b-1', payload: presence('B1', 10) },
      { type: 'presence.detected', payload: { employeeId: 'B1' } },
      { type: 'presence.detected', event_id: 'b-2', payload: presence('B1', 11) }] } });
  assert.deepEqual(emitBatch, { accepted: '2', rejected: '1' });
  const many = Array.from({ length: 1000 }, (_, i) => ({
    type: 'presence.detected', event_id: `big-${i}`, payload: presence(`BIG${i % 10}`, 10 + (i % 5)) }));
  const big = await data(`mutation ($e: [JSON!]!) { emitBatch(input: {events: $e}) { accepted rejected } }`,
    { as: writer, variables: { e: many } });
  assert.deepEqual(big.emitBatch, { accepted: '1000', rejected: '0' });
});

test('a reader cannot emit', async () => {
  const single = await emit('presence.detected', presence('R1', 10), 'reader-1', reader);
  assert.equal(single.body.data.emit, null);
  assert.equal(sqlstate(single.body), '42501');
  const batch = await gql(`mutation { emitBatch(input: {events: []}) { accepted } }`, { as: reader });
  assert.equal(sqlstate(batch.body), '42501');
  const { allPresenceReports } = await data('{ allPresenceReports(filter: {employeeId: {equalTo: "R1"}}) { totalCount } }',
    { as: reader });
  assert.equal(allPresenceReports.totalCount, 0);
});

test('a writer cannot read the event log (an admin can)', async () => {
  const w = await gql('{ allEventLogs(first: 1) { nodes { position payload } } }', { as: writer });
  assert.equal(w.body.data.allEventLogs, null);
  assert.equal(sqlstate(w.body), '42501');
  const dl = await gql('{ allDeadLetters(first: 1) { nodes { reason } } }', { as: writer });
  assert.equal(sqlstate(dl.body), '42501');
  const a = await data('{ allEventLogs(first: 1, orderBy: POSITION_ASC) { nodes { position eventType } } }', { as: admin });
  assert.equal(a.allEventLogs.nodes.length, 1);
});

test('no token gets nothing; bad, expired and foreign tokens are refused cleanly', async () => {
  for (const q of ['{ allPresenceReports { totalCount } }', '{ allEventTypes { totalCount } }',
    '{ entityAsOf(entity: "employee", key: "S1") }']) {
    const { status, body } = await gql(q);
    assert.equal(status, 200);
    assert.equal(sqlstate(body), '42501', `${q}: ${JSON.stringify(body)}`);
  }
  const anonymous = await emit('presence.detected', presence('N1', 10), 'anon-1', null);
  assert.equal(sqlstate(anonymous.body), '42501');

  const q = '{ allEventTypes { totalCount } }';
  const badSignature = await gql(q, { as: token({ role: 'phoenix_admin' }, 'not the secret') });
  assert.equal(badSignature.status, 403);
  const expired = await gql(q, { as: token({ role: 'phoenix_admin', exp: 1000 }) });
  assert.equal(expired.status, 401);
  for (const claims of [{ role: 'postgres' }, { role: 'phoenix_anonymous' }, { role: 'nobody' }, {}]) {
    const r = await gql(q, { as: token(claims) });
    assert.equal(r.status, 403, JSON.stringify(claims));
    assert.equal(r.body.data, undefined);
  }
  const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"role":"phoenix_admin"}').toString('base64url')}.`;
  assert.equal((await gql(q, { as: unsigned })).status, 403);
  assert.equal((await withDb(db => db.query("SELECT count(*)::int AS n FROM reporting.presence_report WHERE employee_id = 'N1'"))).rows[0].n, 0);
});

test('no token subscribes to nothing', async () => {
  const sub = subscribe(ROWS, { variables: { p: 'presence_report' } });
  await sub.ready;
  const m = await sub.next(10000);
  sub.close();
  assert.ok(m, 'no answer');
  assert.match(JSON.stringify(refusal(m)), /permission denied/);
});

test('live rows: a committed emit and a late transfer\'s cascade arrive, a rolled-back emit and a rebuild do not', async () => {
  await data(EMIT, { as: writer, variables: { type: 'employee.transferred',
    payload: { employeeId: 'L1', department: 'Finance', effectiveAt: '2025-01-01T00:00:00Z' } } });
  const sub = subscribe(ROWS, { variables: { p: 'presence_report' }, as: reader });
  try {
    await listening(sub, 'live');

    // rolled back: announced inside its transaction, never delivered
    await withDb(async db => {
      await db.query('BEGIN');
      await db.query(`SELECT phoenix.emit('presence.detected', $1::jsonb, event_id => 'live-rolled-back')`,
        [JSON.stringify(presence('L1', 10, 9))]);
      await db.query('ROLLBACK');
    });
    // a rebuild rewrites every row: not news
    await withDb(db => db.query(`SELECT phoenix.rebuild_projection('presence_report')`));

    // committed: the week, one row per event, Finance all week
    for (const d of WEEK) await data(EMIT, { as: writer, variables: { type: 'presence.detected', payload: presence('L1', d), id: `live-${d}` } });
    const week = await rowsOf(sub, 5);
    assert.deepEqual(week.map(r => [r.eventId, r.employeeDepartment]),
      WEEK.map(d => [`live-${d}`, 'Finance']));
    assert.equal(week[0].siteName, 'New York');

    // a late transfer effective Wednesday: the cascade rewrites Wed–Fri
    await data(EMIT, { as: writer, variables: { type: 'employee.transferred',
      payload: { employeeId: 'L1', department: 'Accounting', effectiveAt: '2025-03-12T00:00:00-04:00' } } });
    // one transaction's rows are one announcement, one message
    const m = await sub.next(10000);
    assert.ok(m && m.type === 'next' && m.payload.data, JSON.stringify(m));
    const cascade = m.payload.data.projectionRows.rows;
    assert.deepEqual(cascade.map(r => [r.eventId, r.employeeDepartment]).sort(),
      [['live-12', 'Accounting'], ['live-13', 'Accounting'], ['live-14', 'Accounting']]);
    assert.ok(cascade.every(r => BigInt(r.changeSeq) > BigInt(week[4].changeSeq)));

    // nothing else was delivered: not the rolled-back row, not the rebuild
    assert.equal(await sub.next(1000), null);
  } finally {
    sub.close();
  }
});

test('a subscription to an unknown projection is refused', async () => {
  const sub = subscribe(ROWS, { variables: { p: 'no_such_projection' }, as: reader });
  await sub.ready;
  const m = await sub.next(10000);
  sub.close();
  assert.ok(m, 'no answer');
  assert.match(JSON.stringify(refusal(m)), /does not exist/);
});

test('an equality filter on a key compares under COLLATE "C" and uses the key index', async () => {
  // last: the earlier tests filled the table (over 1,000 rows, 5 of S1)
  await withDb(db => db.query('ANALYZE reporting.presence_report'));
  const { status, body } = await gql('{ allPresenceReports(filter: {employeeId: {equalTo: "S1"}}) { nodes { eventId } } }',
    { as: reader, explain: true });
  assert.equal(status, 200);
  assert.equal(body.data.allPresenceReports.nodes.length, 5);
  const explained = body.explain.find(e => /presence_report/.test(e.query));
  assert.ok(explained, JSON.stringify(body.explain));
  assert.match(explained.query, /COLLATE "C"\) = /);
  assert.match(explained.plan, /Index.*presence_report_employee_id_effective_at_idx/);
});
