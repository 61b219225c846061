// api/lib/auth.js — who a request runs as.
//
// Authorization: Bearer <JWT> (HS256, PHOENIX_JWT_SECRET) whose claim `role`
// names one of Phoenix's roles: the request runs as that PostgreSQL role
// (PostGraphile SETs it for the transaction), so every permission is
// PostgreSQL's own.  No token: phoenix_anonymous, which may do nothing.
// PostGraphile's own JWT handling would SET any role a token names and fail
// with HTTP 500 on one the login cannot become; here a role outside the list,
// a token without one, a bad signature or an expired token is refused
// (403 / 401), and the claims become jwt.claims.* settings as PostGraphile
// would set them.
'use strict';

const crypto = require('node:crypto');
const jwt = require('jsonwebtoken');

const ROLES = ['phoenix_reader', 'phoenix_writer', 'phoenix_admin'];
const ANONYMOUS = 'phoenix_anonymous';
// HS256 only (never "none", never a public-key algorithm fed the secret);
// no audience is required.
const VERIFY_OPTIONS = { algorithms: ['HS256'] };

function refusal(message, statusCode) {
  const error = new Error(message);
  error.statusCode = statusCode;
  error.extensions = { code: statusCode === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN' };
  return error;
}

// The bearer token of a request (HTTP header, or the WebSocket's
// connectionParams.authorization that PostGraphile copies into the header).
function bearerToken(req) {
  const header = req.headers && req.headers.authorization;
  if (!header) return null;
  const m = /^\s*bearer\s+(\S+)\s*$/i.exec(String(header));
  if (!m) throw refusal('the Authorization header must be "Bearer <JWT>"', 401);
  return m[1];
}

// pgSettings(req) for PostGraphile: { role } or a thrown refusal.
function makePgSettings(secret) {
  // A KeyObject made once: given a string, jsonwebtoken first tries to read
  // it as a public key on every call (about a millisecond of CPU each).
  const key = crypto.createSecretKey(Buffer.from(secret, 'utf8'));
  return function pgSettings(req) {
    const token = bearerToken(req);
    if (token === null) return { role: ANONYMOUS };
    let claims;
    try {
      claims = jwt.verify(token, key, VERIFY_OPTIONS);
    } catch (e) {
      throw refusal(`invalid token: ${e.message}`, e.name === 'TokenExpiredError' ? 401 : 403);
    }
    const role = claims && claims.role;
    if (!ROLES.includes(role)) {
      throw refusal(role === undefined
        ? `the token has no "role" claim (one of ${ROLES.join(', ')})`
        : `the token's role ${JSON.stringify(role)} is not one of ${ROLES.join(', ')}`, 403);
    }
    // the claims as PostGraphile would give them: jwt.claims.<name>
    const settings = { role };
    for (const [k, v] of Object.entries(claims)) {
      if (v == null) continue;
      settings[`jwt.claims.${k}`] = typeof v === 'object' ? JSON.stringify(v) : String(v);
    }
    return settings;
  };
}

module.exports = { ROLES, ANONYMOUS, VERIFY_OPTIONS, makePgSettings };
