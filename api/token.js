#!/usr/bin/env node
// api/token.js — print a JWT for the Universal API, signed with
// PHOENIX_JWT_SECRET (HS256): node api/token.js phoenix_writer [expires_in]
// (expires_in as jsonwebtoken reads it: 3600, "2h", "7d"; default 1h).
// The API only verifies tokens; whoever issues them in production (an
// identity provider, a login function) signs them the same way.
'use strict';

const jwt = require('jsonwebtoken');
const { ROLES } = require('./lib/auth');

const [role, expiresIn = '1h'] = process.argv.slice(2);
const secret = process.env.PHOENIX_JWT_SECRET;
if (!secret) { process.stderr.write('set PHOENIX_JWT_SECRET\n'); process.exit(2); }
if (!ROLES.includes(role)) { process.stderr.write(`usage: node api/token.js ${ROLES.join('|')} [expires_in]\n`); process.exit(2); }
process.stdout.write(jwt.sign({ role }, secret, { algorithm: 'HS256', expiresIn }) + '\n');
