'use strict';

const { graphql } = require('./lib/api');
const { hookTrigger } = require('./lib/hooks');

const CONTACT_FIELDS = 'id email fullName company jobTitle phone locale createdAt updatedAt';
const RECENT_CONTACTS = `query { contacts(first: 10, orderBy: {field: CREATED_AT, direction: DESC}) {
  edges { node { ${CONTACT_FIELDS} } } } }`;
const RECENT_REQUESTS = `query { subjectRequests(first: 10) {
  edges { node { id kind state subjectEmail receivedAt dueAt completedAt rejectionReason } } } }`;

// The response's redaction report for edge `index`, with paths as a delivery states them.
const redactionsOf = (extensions, root, index) =>
  (extensions.redactions || [])
    .filter((r) => r.path && r.path[0] === root && r.path[2] === index)
    .map((r) => ({ ...r, path: ['object', ...r.path.slice(4)] }));

// Recent objects shaped as the hook's records (the polling sample Zapier shows when a Zap
// is set up), read with the key's own scopes: masked and withheld as a delivery would be.
const recent = (query, root, eventType, objectType, at) => async (z, bundle) => {
  const { data, extensions } = await graphql(z, bundle, query);
  return data[root].edges.map(({ node }, index) => ({
    id: node.id,
    eventType,
    occurredAt: node[at],
    objectType,
    objectId: node.id,
    fields: [],
    object: node,
    redactions: redactionsOf(extensions, root, index),
  }));
};

const contactCreated = hookTrigger({
  key: 'contact_created',
  noun: 'Contact',
  label: 'New Contact',
  description: 'Triggers when a contact is created (also once per imported row).',
  eventType: 'contact.created',
  list: recent(RECENT_CONTACTS, 'contacts', 'contact.created', 'Contact', 'createdAt'),
  sampleObject: { id: 'Q29udGFjdDo...', email: 'j***@example.com', fullName: 'J*** D***' },
});

const consentWithdrawn = hookTrigger({
  key: 'consent_withdrawn',
  noun: 'Consent Event',
  label: 'Consent Withdrawn',
  description: 'Triggers when a contact withdraws consent for a purpose: stop that processing.',
  eventType: 'consent.withdrawn',
});

const contactErased = hookTrigger({
  key: 'contact_erased',
  noun: 'Contact',
  label: 'Contact Erased',
  description:
    'Triggers when a contact is erased at their request: delete your copy (match on Object ID).',
  eventType: 'contact.erased',
});

const SPACE_FIELDS = 'id title slug description status publishedAt createdAt updatedAt';
const RECENT_PUBLISHED = `query { spaces(first: 10, status: PUBLISHED,
  orderBy: {field: UPDATED_AT, direction: DESC}) { edges { node { ${SPACE_FIELDS} } } } }`;

// The recently published spaces, newest publish first. The ID names the publish, not only
// the space, so that a space published again is a new item to Zapier's deduplication.
const recentlyPublished = async (z, bundle) => {
  const { data } = await graphql(z, bundle, RECENT_PUBLISHED);
  return data.spaces.edges
    .map(({ node }) => node)
    .filter((node) => node.publishedAt)
    .sort((a, b) => Date.parse(b.publishedAt) - Date.parse(a.publishedAt))
    .map((node) => ({
      id: `${node.id}@${node.publishedAt}`,
      eventType: 'space.published',
      occurredAt: node.publishedAt,
      objectType: 'Space',
      objectId: node.id,
      fields: [],
      object: node,
      redactions: [],
    }));
};

const spacePublished = hookTrigger({
  key: 'space_published',
  noun: 'Space',
  label: 'Space Published',
  description: 'Triggers when a space is published: its contacts and widgets now see this version.',
  eventType: 'space.published',
  list: recentlyPublished,
  sampleObject: { id: 'U3BhY2U6...', title: 'Onboarding', slug: 'onboarding', status: 'PUBLISHED' },
});

const spaceViewed = hookTrigger({
  key: 'space_viewed',
  noun: 'Space',
  label: 'Space Viewed',
  description:
    "Triggers when a contact views a space. Recorded only under the contact's analytics consent; names the space, not the contact.",
  eventType: 'usage.recorded',
});

const subjectRequestReceived = hookTrigger({
  key: 'subject_request_received',
  noun: 'Subject Request',
  label: 'Subject Request Received',
  description: 'Triggers when a data-subject request (access, portability, correction, erasure) is filed.',
  eventType: 'subject_request.created',
  list: recent(RECENT_REQUESTS, 'subjectRequests', 'subject_request.created', 'SubjectRequest', 'receivedAt'),
});

const SPACES = `query($after: String) {
  spaces(first: 100, after: $after, orderBy: {field: TITLE, direction: ASC}) {
    edges { node { id title slug status } } pageInfo { hasNextPage endCursor } } }`;

// A dropdown's page n of 100 of a query's connection `root` when Zapier asks for more
// (walked from the start: z.cursor needs Zapier's own store, and a dropdown rarely goes past one).
const pageOf = (query, root) => async (z, bundle) => {
  const wanted = Number((bundle.meta && bundle.meta.page) || 0);
  let after = null;
  for (let page = 0; ; page += 1) {
    const { data } = await graphql(z, bundle, query, { after });
    if (page === wanted) return data[root].edges.map(({ node }) => node);
    if (!data[root].pageInfo.hasNextPage) return [];
    after = data[root].pageInfo.endCursor;
  }
};

// the spaces dropdown (hidden): the tenant's spaces by title
const spaceList = {
  key: 'space_list',
  noun: 'Space',
  display: { label: 'List Spaces', description: 'Spaces for dropdowns.', hidden: true },
  operation: {
    perform: pageOf(SPACES, 'spaces'),
    sample: { id: 'U3BhY2U6...', title: 'Onboarding', slug: 'onboarding', status: 'DRAFT' },
  },
};

const TEMPLATES = `query($after: String) {
  spaces(first: 100, after: $after, orderBy: {field: TITLE, direction: ASC}) {
    edges { node { id title slug status isTemplate } } pageInfo { hasNextPage endCursor } } }`;
const TEMPLATE_PAGES = 20;

// the templates dropdown (hidden): the tenant's templates by title, one page of the
// templates among its first 2,000 spaces (`spaces` takes no template filter)
const templates = async (z, bundle) => {
  if (Number((bundle.meta && bundle.meta.page) || 0) > 0) return [];
  const found = [];
  let after = null;
  for (let page = 0; page < TEMPLATE_PAGES; page += 1) {
    const { data } = await graphql(z, bundle, TEMPLATES, { after });
    found.push(...data.spaces.edges.map(({ node }) => node).filter((node) => node.isTemplate));
    if (!data.spaces.pageInfo.hasNextPage) break;
    after = data.spaces.pageInfo.endCursor;
  }
  return found;
};

const templateList = {
  key: 'template_list',
  noun: 'Template',
  display: { label: 'List Templates', description: 'Templates for dropdowns.', hidden: true },
  operation: {
    perform: templates,
    sample: {
      id: 'U3BhY2U6...',
      title: 'Onboarding template',
      slug: 'onboarding-template',
      status: 'DRAFT',
      isTemplate: true,
    },
  },
};

module.exports = [
  contactCreated,
  consentWithdrawn,
  contactErased,
  spacePublished,
  spaceViewed,
  subjectRequestReceived,
  spaceList,
  templateList,
];
