'use strict';

const { graphql, codeOf } = require('./lib/api');

const CONTACT_FIELDS = 'id email fullName company jobTitle phone locale createdAt updatedAt';
const SEARCH_CONTACTS = `query($q: String!) { contacts(search: $q, first: 20) {
  edges { node { ${CONTACT_FIELDS} } } } }`;

// Microspace matches a search only on fields the key reads in full, so a key that sees
// e-mail masked learns nothing about which addresses exist: the API refuses the search
// (FORBIDDEN), and an exact match on a masked address can never happen here either.
const findContactByEmail = async (z, bundle) => {
  const email = String(bundle.inputData.email || '').trim().toLowerCase();
  if (!email) throw new z.errors.Error('Give an e-mail address.', 'REQUIRED', 400);
  let found;
  try {
    found = await graphql(z, bundle, SEARCH_CONTACTS, { q: email });
  } catch (error) {
    if (codeOf(error) === 'FORBIDDEN') {
      throw new z.errors.Error(
        'Finding a contact by e-mail needs a key that reads e-mail in full (scope contacts:read_pii); this key sees e-mail masked.',
        'FORBIDDEN',
        403,
      );
    }
    throw error;
  }
  return found.data.contacts.edges.map((e) => e.node).filter((c) => c.email === email);
};

const SPACE_FIELDS = 'id title slug description status createdAt updatedAt publishedAt';
const SPACES = `query($after: String) { spaces(first: 100, after: $after) {
  edges { node { ${SPACE_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const SPACE = `query($id: ID!) { space(id: $id) { ${SPACE_FIELDS} } }`;
const MAX_PAGES = 20;

// By ID, or by exact title or slug (case-insensitive) over at most 2,000 spaces.
const findSpace = async (z, bundle) => {
  const wanted = String(bundle.inputData.query || '').trim();
  if (!wanted) throw new z.errors.Error('Give a title, slug or ID.', 'REQUIRED', 400);
  const lower = wanted.toLowerCase();
  const matches = [];
  let after = null;
  for (let page = 0; page < MAX_PAGES; page += 1) {
    const { data } = await graphql(z, bundle, SPACES, { after });
    for (const { node } of data.spaces.edges) {
      if (node.id === wanted || node.slug === lower || node.title.toLowerCase() === lower) {
        matches.push(node);
      }
    }
    if (!data.spaces.pageInfo.hasNextPage) break;
    after = data.spaces.pageInfo.endCursor;
  }
  if (!matches.length && /^[A-Za-z0-9+/=_-]{8,}$/.test(wanted)) {
    try {
      const { data } = await graphql(z, bundle, SPACE, { id: wanted });
      if (data.space) matches.push(data.space);
    } catch (error) {
      // not an ID after all: no match
    }
  }
  return matches;
};

module.exports = [
  {
    key: 'contact_by_email',
    noun: 'Contact',
    display: {
      label: 'Find Contact by E-mail',
      description:
        'Finds a contact by exact e-mail address. Needs a key that reads e-mail in full (contacts:read_pii).',
    },
    operation: {
      inputFields: [{ key: 'email', label: 'E-mail', required: true }],
      perform: findContactByEmail,
      sample: { id: 'Q29udGFjdDo...', email: 'jane@example.com', fullName: 'Jane Doe' },
    },
  },
  {
    key: 'space',
    noun: 'Space',
    display: { label: 'Find Space', description: 'Finds a space by title, slug or ID.' },
    operation: {
      inputFields: [{ key: 'query', label: 'Title, slug or ID', required: true }],
      perform: findSpace,
      sample: { id: 'U3BhY2U6...', title: 'Onboarding', slug: 'onboarding', status: 'DRAFT' },
    },
  },
];
