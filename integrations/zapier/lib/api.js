'use strict';

// One GraphQL call to Microspace with the connection's partner key, and the API's error
// codes (`extensions.code`, typed `userErrors`) turned into errors Zapier shows as such.

const endpoint = (authData) => {
  const base = String(authData.apiUrl || '').trim().replace(/\/+$/, '');
  return base.endsWith('/graphql') ? base : `${base}/graphql`;
};

const addApiKey = (request, z, bundle) => {
  if (bundle.authData && bundle.authData.apiKey) {
    request.headers = request.headers || {};
    request.headers.Authorization = `Bearer ${bundle.authData.apiKey}`;
  }
  return request;
};

// extensions.code -> what the Zap's owner should do about it
const HINTS = {
  UNAUTHENTICATED:
    'Microspace refused the API key (revoked, expired or rotated out): reconnect with a current partner key.',
  FORBIDDEN: "The API key's scopes do not allow this; docs/zapier.md lists the scopes each step needs.",
  NOT_FOUND: 'Not found in this Microspace tenant (deleted, or not visible to this key).',
  SUBSCRIPTION_ENDED: "The tenant's Microspace subscription has ended: nothing can be written.",
  PAGE_SIZE_LIMIT: 'Asked for too many items at once.',
};

const apiError = (z, error, status) => {
  const extensions = error.extensions || {};
  const code = extensions.code || 'UNKNOWN';
  const message = `${error.message}${HINTS[code] ? ` ${HINTS[code]}` : ''} [${code}]`;
  if (code === 'UNAUTHENTICATED') return new z.errors.ExpiredAuthError(message);
  if (code === 'RATE_LIMITED') {
    const delay = Number(extensions.retryAfter || 60);
    return new z.errors.ThrottledError(message, Math.ceil(delay));
  }
  const statuses = { FORBIDDEN: 403, NOT_FOUND: 404, BAD_USER_INPUT: 400, BAD_REQUEST: 400 };
  return new z.errors.Error(message, code, statuses[code] || status || 400);
};

const graphql = async (z, bundle, query, variables = {}) => {
  const response = await z.request({
    url: endpoint(bundle.authData),
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: { query, variables },
    skipThrowForStatus: true,
  });
  let json = null;
  try {
    json = response.json !== undefined ? response.json : JSON.parse(response.content);
  } catch (e) {
    json = null;
  }
  if (json && Array.isArray(json.errors) && json.errors.length) {
    throw apiError(z, json.errors[0], response.status);
  }
  if (response.status === 429) {
    throw new z.errors.ThrottledError('Microspace asks to slow down.', 60);
  }
  if (!json || response.status >= 300 || !json.data) {
    throw new z.errors.Error(
      `Microspace answered HTTP ${response.status} without data; try again later.`,
      'ServerError',
      response.status,
    );
  }
  return { data: json.data, extensions: json.extensions || {} };
};

// A mutation's payload, or its first typed user error as an error naming code and field.
const payloadOf = (z, payload) => {
  const errors = (payload && payload.userErrors) || [];
  if (errors.length) {
    const text = errors
      .map((e) => `${e.message}${e.field ? ` (${e.field.join('.')})` : ''} [${e.code}]`)
      .join('; ');
    throw new z.errors.Error(text, errors[0].code, 400);
  }
  return payload;
};

// The code of an error thrown above (z.errors.Error carries it in its JSON message).
const codeOf = (error) => {
  try {
    return JSON.parse(error.message).code;
  } catch (e) {
    return undefined;
  }
};

module.exports = { endpoint, addApiKey, graphql, payloadOf, codeOf };
