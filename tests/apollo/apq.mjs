// Apollo Client with its persisted-queries link against a running Microspace API.
// Usage: node apq.mjs <graphql-url> <bearer-token> <mode>
// Prints one JSON document: every HTTP exchange Apollo made, and each operation's outcome.
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";

const [url, token, mode] = process.argv.slice(2);
const exchanges = [];

async function loggingFetch(input, init) {
  const response = await fetch(input, init);
  const text = await response.clone().text();
  exchanges.push({
    method: init.method || "GET",
    url: String(input),
    request: init.body ? JSON.parse(init.body) : null,
    status: response.status,
    response: JSON.parse(text),
  });
  return response;
}

function client() {
  const sha256 = (text) => createHash("sha256").update(text).digest("hex");
  const persisted = new PersistedQueryLink({ sha256, useGETForHashedQueries: mode === "get" });
  const http = new HttpLink({ uri: url, fetch: loggingFetch, headers: { authorization: `Bearer ${token}` } });
  return new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
}

const SPACES = gql`query Spaces { spaces(first: 5) { edges { node { id title } } } }`;
const outcomes = [];
for (const c of [client(), client()]) {
  try {
    const result = await c.query({ query: SPACES, fetchPolicy: "network-only" });
    outcomes.push({ data: result.data ?? null, error: result.error ? String(result.error) : null });
  } catch (error) {
    outcomes.push({ data: null, error: String(error) });
  }
}
console.log(JSON.stringify({ exchanges, outcomes }));
