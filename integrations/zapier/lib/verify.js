'use strict';

// Standard Webhooks verification (https://www.standardwebhooks.com/): an HMAC-SHA256 of
// `{id}.{timestamp}.{body}` with the base64 key after `whsec_`; `webhook-signature` may carry
// several space-separated `v1,` signatures (during a secret rotation it does).

const crypto = require('crypto');

const TOLERANCE_SECONDS = 5 * 60;

// Zapier hands hook headers over as `Http-Webhook-Id`; a plain server as `webhook-id`.
const normalize = (headers) => {
  const out = {};
  for (const [name, value] of Object.entries(headers || {})) {
    out[name.toLowerCase().replace(/^http-/, '')] = Array.isArray(value) ? value[0] : value;
  }
  return out;
};

const sign = (secret, id, timestamp, body) => {
  const key = Buffer.from(String(secret).replace(/^whsec_/, ''), 'base64');
  return crypto.createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
};

// The reason it does not verify, or null.
const problem = (secret, rawHeaders, body, now = Date.now()) => {
  const headers = normalize(rawHeaders);
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!secret) return 'no signing secret was kept for this subscription';
  if (!id || !timestamp || !signatures || typeof body !== 'string') {
    return 'the request lacks the Standard Webhooks headers or body';
  }
  const seconds = Number(timestamp);
  if (!Number.isFinite(seconds) || Math.abs(now / 1000 - seconds) > TOLERANCE_SECONDS) {
    return 'the timestamp is too old or too new';
  }
  const expected = Buffer.from(sign(secret, id, timestamp, body));
  const match = String(signatures)
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .some((s) => {
      const given = Buffer.from(s.slice(3));
      return given.length === expected.length && crypto.timingSafeEqual(given, expected);
    });
  return match ? null : 'no signature matches the signing secret';
};

module.exports = { normalize, sign, problem };
