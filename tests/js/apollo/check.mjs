// Apollo Client against a live Microspace API: nullable lookups, backward pagination,
// ordering. Prints one JSON object; tests/test_apollo.py asserts on it.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client/core/index.js";

const [url, token, missingId] = process.argv.slice(2);
const client = new ApolloClient({
  link: new HttpLink({ uri: url, fetch, headers: { Authorization: `Bearer ${token}` } }),
  cache: new InMemoryCache(),
  defaultOptions: { query: { errorPolicy: "all", fetchPolicy: "no-cache" } },
});

const LOOKUP = gql`
  query Lookup($id: ID!) {
    viewer { kind }
    space(id: $id) { id title }
    node(id: $id) { id }
  }
`;
const PAGE = gql`
  query Page($last: Int, $before: String, $order: SpaceOrder) {
    spaces(last: $last, before: $before, orderBy: $order) {
      edges { node { title } }
      pageInfo { hasPreviousPage hasNextPage startCursor }
    }
  }
`;

const lookup = await client.query({ query: LOOKUP, variables: { id: missingId } });

async function walkBackwards(order) {
  const titles = [];
  let before = null;
  for (;;) {
    const { data } = await client.query({ query: PAGE, variables: { last: 2, before, order } });
    titles.unshift(...data.spaces.edges.map((e) => e.node.title));
    if (!data.spaces.pageInfo.hasPreviousPage) return titles;
    before = data.spaces.pageInfo.startCursor;
  }
}

console.log(
  JSON.stringify({
    lookup: {
      data: lookup.data,
      errors: (lookup.errors ?? []).map((e) => ({ path: e.path, code: e.extensions?.code })),
    },
    newestFirst: await walkBackwards(null),
    byTitle: await walkBackwards({ field: "TITLE", direction: "ASC" }),
    byTitleDesc: await walkBackwards({ field: "TITLE", direction: "DESC" }),
  }),
);
