// A subscriber for tests/test_live_clients.py: the real `graphql-ws` client, or Apollo
// Client with its GraphQLWsLink, against a running API. One JSON line per happening on
// stdout: {"event": "connected"}, {"event": "next", "payload": ...}, {"event": "error", ...},
// {"event": "closed", "code": ..., "reason": ...}. Exits after `count` payloads, on a close,
// or after `timeout` seconds.
//
// usage: node live.mjs <graphql-ws|apollo> <ws url> <token> <query> <variables json> <count> <timeout> [reconnect]
import WebSocket from "ws";
import { createClient } from "graphql-ws";
import { ApolloClient, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";

const [mode, url, token, query, variablesJson, countArg, timeoutArg, reconnect] =
  process.argv.slice(2);
const variables = JSON.parse(variablesJson || "{}");
const count = Number(countArg || 1);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");
let received = 0;
let connections = 0;

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  lazy: false,
  // with `reconnect`, the client retries after a server going away, as a browser's would
  retryAttempts: reconnect ? 5 : 0,
  retryWait: async () => new Promise((r) => setTimeout(r, 300)),
  shouldRetry: () => Boolean(reconnect),
  on: {
    connected: () => {
      connections += 1;
      say({ event: "connected", connections });
    },
    closed: (e) => say({ event: "closed", code: e?.code, reason: e?.reason }),
  },
});

const done = (code) => {
  client.dispose();
  setTimeout(() => process.exit(code), 50);
};
setTimeout(() => {
  say({ event: "timeout" });
  done(0);
}, Number(timeoutArg || 20) * 1000);

const next = (payload) => {
  received += 1;
  say({ event: "next", payload });
  if (received >= count) done(0);
};
const error = (err) => {
  // graphql-ws gives an `error` message's GraphQL errors as an array, a close as an event
  const text = Array.isArray(err) ? JSON.stringify(err) : String(err?.message ?? err);
  say({ event: "error", error: text, code: err?.code, reason: err?.reason });
  done(0);
};

if (mode === "graphql-ws") {
  client.subscribe({ query, variables }, { next, error, complete: () => say({ event: "complete" }) });
} else {
  const apollo = new ApolloClient({ link: new GraphQLWsLink(client), cache: new InMemoryCache() });
  apollo.subscribe({ query: gql(query), variables }).subscribe({
    next: (result) => next({ data: result.data, ...(result.error ? { error: String(result.error) } : {}) }),
    error,
  });
}
