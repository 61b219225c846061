// api/lib/plugins.js — what PostGraphile does not generate by itself:
//   emitBatch        a flat { accepted rejected } payload (a record-returning
//                    function would nest it under `result`)
//   emit errors      schema violations carry every JSON path and keyword
//   projectionRows   live rows of a projection after commit
//   key collation    equality filters on text compare under COLLATE "C",
//                    the collation of Phoenix's key indexes
'use strict';

const { makeExtendSchemaPlugin, makeWrapResolversPlugin, gql } = require('graphile-utils');

const SCHEMA_VIOLATION = 'PX001';

// A mutation's own savepoint, as PostGraphile's generated mutations do: one
// failing mutation of a request leaves the others applied.
async function inSavepoint(pgClient, fn) {
  await pgClient.query('SAVEPOINT graphql_mutation');
  try {
    const result = await fn();
    await pgClient.query('RELEASE SAVEPOINT graphql_mutation');
    return result;
  } catch (e) {
    await pgClient.query('ROLLBACK TO SAVEPOINT graphql_mutation');
    throw e;
  }
}

// Batch elements as phoenix.emit_batch takes them; the names of emit's
// input (eventType, eventId, effectiveAt) are accepted too.
const ELEMENT_KEYS = { eventType: 'type', eventId: 'event_id', effectiveAt: 'effective_at' };
function batchElement(e) {
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return e;
  const out = {};
  for (const [k, v] of Object.entries(e)) out[ELEMENT_KEYS[k] || k] = v;
  return out;
}

const EmitBatchPlugin = makeExtendSchemaPlugin(build => ({
  typeDefs: gql`
    """All input for the \`emitBatch\` mutation."""
    input EmitBatchInput {
      clientMutationId: String
      """Events as phoenix.emit_batch takes them: {type, payload, event_id, effective_at} (eventType, eventId, effectiveAt accepted too)."""
      events: [JSON!]!
      """Where the events come from (kept in the log and dead letters)."""
      source: String
    }
    """The output of the \`emitBatch\` mutation."""
    type EmitBatchPayload {
      clientMutationId: String
      """Events logged (an idempotent repeat counts as accepted)."""
      accepted: BigInt!
      """Events sent to the dead letters, each with its reason and SQLSTATE."""
      rejected: BigInt!
      query: Query
    }
    extend type Mutation {
      """Emit many events at once; a bad one goes to the dead letters and never aborts its neighbours (phoenix.emit_batch)."""
      emitBatch(input: EmitBatchInput!): EmitBatchPayload
    }
  `,
  resolvers: {
    Mutation: {
      async emitBatch(_parent, { input }, { pgClient }) {
        const events = JSON.stringify(input.events.map(batchElement));
        const { rows: [r] } = await inSavepoint(pgClient, () => pgClient.query(
          'select accepted::text, rejected::text from api.emit_batch($1, $2)',
          [events, input.source == null ? null : input.source]));
        return { clientMutationId: input.clientMutationId, accepted: r.accepted, rejected: r.rejected };
      },
    },
    EmitBatchPayload: { query: () => build.$$isQuery },
  },
}));

// phoenix.emit reports the first failure; the error's extensions get them
// all, as phoenix.schema_errors lists them.  PostGraphile has rolled back
// to the mutation's savepoint, so the transaction (and role) is still usable.
const EmitSchemaErrorsPlugin = makeWrapResolversPlugin({
  Mutation: {
    async emit(resolve, source, args, context, info) {
      try {
        return await resolve(source, args, context, info);
      } catch (e) {
        if (e && e.code === SCHEMA_VIOLATION && args.input) {
          const { rows } = await context.pgClient.query(
            'select path, keyword, message from api.schema_errors($1, $2)',
            [args.input.eventType, JSON.stringify(args.input.payload)]);
          e.extensions = Object.assign({}, e.extensions, { schemaErrors: rows });
        }
        throw e;
      }
    },
  },
});

// A subscription's events: announcements of (key, change_seq) pairs from the
// live-rows trigger, one per row.  The announcements of one transaction
// arrive together (one read from the socket): those already queued are taken
// as one batch, read back as the subscriber in one query, and sent as one
// message.  Rows changed again since are skipped (their own announcement
// follows); a batch with nothing left sends nothing.
const BATCH_MAX = 1000;
const NOTHING_QUEUED = Symbol('nothing queued');
const afterQueued = () => new Promise(resolve => setImmediate(resolve, NOTHING_QUEUED));

function liveRowsIterator(inner, read) {
  let pending = null; // a pull that lost the race against afterQueued
  const pull = () => { const p = pending || inner.next(); pending = null; return p; };
  return {
    async next() {
      for (;;) {
        const step = await pull();
        if (step.done) return step;
        const batch = [step.value];
        while (batch.length < BATCH_MAX) {
          const p = pull();
          const more = await Promise.race([p, afterQueued()]);
          if (more === NOTHING_QUEUED || more.done) { pending = p; break; }
          batch.push(more.value);
        }
        const rows = await read(batch);
        if (rows.length > 0) return { done: false, value: rows };
      }
    },
    return() {
      return inner.return ? inner.return() : Promise.resolve({ done: true, value: undefined });
    },
    throw(e) {
      return inner.throw ? inner.throw(e) : Promise.reject(e);
    },
    [Symbol.asyncIterator]() { return this; },
  };
}

function camelKeys(inflection, row) {
  const out = {};
  for (const [k, v] of Object.entries(row)) out[inflection.camelCase(k)] = v;
  return out;
}

const LiveRowsPlugin = makeExtendSchemaPlugin((build, options) => {
  const { pubsub } = options;
  return {
    typeDefs: gql`
      """Rows of a projection inserted or changed by one committed transaction."""
      type ProjectionRowsPayload {
        projection: String!
        """Each row as JSON, keyed by the connection's field names (employeeId, changeSeq, ...)."""
        rows: [JSON!]!
      }
      extend type Subscription {
        """A projection's inserted and changed rows, after their transaction commits (a cascade's rewrites included; rebuilds excluded)."""
        projectionRows(projection: String!): ProjectionRowsPayload
      }
    `,
    resolvers: {
      Subscription: {
        projectionRows: {
          async subscribe(_parent, { projection }, { pgClient }) {
            if (!pubsub) throw new Error('subscriptions are not enabled');
            // as the subscriber: refused unless they may read the table
            const { rows: [{ channel }] } = await pgClient.query(
              'select api.live_rows_channel($1) as channel', [projection]);
            return liveRowsIterator(pubsub.asyncIterator(channel), async batch => {
              const keys = [];
              const seqs = [];
              for (const a of batch) {
                if (!a || !Array.isArray(a.k) || !Array.isArray(a.s)) continue;
                keys.push(...a.k);
                seqs.push(...a.s);
              }
              if (keys.length === 0) return [];
              const { rows } = await pgClient.query(
                'select api.live_rows($1, $2::text[], $3::bigint[]) as row', [projection, keys, seqs]);
              return rows.map(r => camelKeys(build.inflection, r.row));
            });
          },
          resolve(rows, { projection }) {
            return { projection, rows };
          },
        },
      },
    },
  };
});

// Phoenix indexes text keys under COLLATE "C" (byte order: the cheapest
// comparison); a plain `col = $1` compares under the database's collation and
// cannot use those indexes.  Equality is the same under both (PostgreSQL's
// collations are deterministic), so the equality operators of the filter
// compare under "C".  Ordering operators keep the database's collation.
const EQUALITY_OPERATORS = ['equalTo', 'notEqualTo', 'distinctFrom', 'notDistinctFrom', 'in', 'notIn'];
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar']);

function KeyCollationPlugin(builder) {
  builder.hook('build', build => {
    const { pgSql: sql, connectionFilterScalarOperators: operators } = build;
    const strings = operators && operators.String;
    if (!strings) return build;
    for (const name of EQUALITY_OPERATORS) {
      if (!strings[name] || strings[name].resolveSqlIdentifier) continue;
      strings[name] = Object.assign({}, strings[name], {
        // (citext keeps the plugin's own cast to text)
        resolveSqlIdentifier: (alias, pgType) =>
          TEXT_TYPES.has(pgType.name) ? sql.query`(${alias} COLLATE "C")`
            : pgType.name === 'citext' ? sql.query`${alias}::text`
              : pgType.name === '_citext' ? sql.query`${alias}::text[]` : alias,
      });
    }
    return build;
  });
}

module.exports = {
  EmitBatchPlugin,
  EmitSchemaErrorsPlugin,
  LiveRowsPlugin,
  KeyCollationPlugin,
};
