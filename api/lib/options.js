// api/lib/options.js — PostGraphile's options for Phoenix's Universal API.
'use strict';

const { makePluginHook, extendedFormatError } = require('postgraphile');
const PgPubsub = require('@graphile/pg-pubsub').default;
const ConnectionFilterPlugin = require('postgraphile-plugin-connection-filter');
const { makePgSettings } = require('./auth');
const plugins = require('./plugins');

// The schemas PostGraphile publishes: Phoenix's wrappers and the reporting tables.
const SCHEMAS = ['api', 'reporting'];
const PG_ERROR_FIELDS = ['hint', 'detail', 'errcode'];

// PostGraphile's extended errors (errcode, hint, detail at the top and in
// extensions.exception), plus extensions.sqlstate, and for a schema
// violation extensions.schemaErrors: [{path, keyword, message}].
function handleErrors(errors) {
  return errors.map(error => {
    const formatted = extendedFormatError(error, PG_ERROR_FIELDS);
    const original = error.originalError || {};
    const extensions = Object.assign({}, error.extensions, formatted.extensions);
    if (original.code && /^[0-9A-Z]{5}$/.test(original.code)) extensions.sqlstate = original.code;
    if (original.extensions && original.extensions.schemaErrors) {
      extensions.schemaErrors = original.extensions.schemaErrors;
    }
    if (Object.keys(extensions).length > 0) formatted.extensions = extensions;
    return formatted;
  });
}

function postgraphileOptions({ jwtSecret, exportSchema, allowExplain }) {
  return {
    pluginHook: makePluginHook([PgPubsub]),
    subscriptions: true,
    // every operation over WebSocket is a subscription (queries go over HTTP)
    websocketOperations: 'subscriptions',
    dynamicJson: true,
    setofFunctionsContainNulls: false,
    ignoreRBAC: false,
    disableDefaultMutations: true,
    // Phoenix's wrappers belong to the extension
    includeExtensionResources: true,
    legacyRelations: 'omit',
    // tokens are verified by pgSettings (lib/auth.js)
    pgSettings: makePgSettings(jwtSecret),
    handleErrors,
    showErrorStack: false,
    // with X-PostGraphile-Explain: on, the SQL and its plan come back in
    // the response (a debugging aid, off unless asked for)
    allowExplain: Boolean(allowExplain),
    graphiql: true,
    enhanceGraphiql: true,
    // a 1,000-event batch is more than the default 100 kB
    bodySizeLimit: '64MB',
    // A new or dropped projection reloads the schema: Phoenix notifies
    // postgraphile_watch itself (PostGraphile's own watch fixtures would
    // need a superuser and event triggers).
    watchPg: true,
    disableQueryLog: true,
    exportGqlSchemaPath: exportSchema || undefined,
    sortExport: true,
    appendPlugins: [
      ConnectionFilterPlugin,
      plugins.KeyCollationPlugin,
      plugins.EmitBatchPlugin,
      plugins.EmitSchemaErrorsPlugin,
      plugins.LiveRowsPlugin,
    ],
    graphileBuildOptions: {
      // arguments without a default are required
      pgStrictFunctions: true,
      pgSkipInstallingWatchFixtures: true,
      connectionFilterRelations: false,
      connectionFilterComputedColumns: false,
      connectionFilterSetofFunctions: false,
      connectionFilterAllowNullInput: false,
      connectionFilterAllowEmptyObjectInput: false,
    },
  };
}

module.exports = { SCHEMAS, postgraphileOptions, handleErrors };
