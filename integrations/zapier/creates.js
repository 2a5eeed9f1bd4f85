'use strict';

const { graphql, payloadOf, codeOf } = require('./lib/api');

const CONTACT_FIELDS = 'id email fullName company jobTitle phone locale createdAt updatedAt';
const ERRORS = 'userErrors { code field message }';
const CREATE = `mutation($input: ContactCreateInput!) {
  contactCreate(input: $input) { contact { ${CONTACT_FIELDS} } ${ERRORS} } }`;
const UPDATE = `mutation($input: ContactUpdateInput!) {
  contactUpdate(input: $input) { contact { ${CONTACT_FIELDS} } ${ERRORS} } }`;
const DETAILS = ['fullName', 'company', 'jobTitle', 'phone', 'locale'];

const details = (inputData) => {
  const out = {};
  for (const key of DETAILS) {
    if (inputData[key] !== undefined && inputData[key] !== null && inputData[key] !== '') {
      out[key] = inputData[key];
    }
  }
  return out;
};

// With a contact ID: update it. Otherwise create; an address already in use is updated
// instead only for a key that reads e-mail in full (the others get Microspace's one
// answer for "in use" and "erased", which says nothing about which it is).
const upsertContact = async (z, bundle) => {
  const fields = details(bundle.inputData);
  const email = bundle.inputData.email ? String(bundle.inputData.email).trim() : undefined;
  if (bundle.inputData.contactId) {
    const input = { id: bundle.inputData.contactId, ...fields, ...(email ? { email } : {}) };
    const { data } = await graphql(z, bundle, UPDATE, { input });
    return payloadOf(z, data.contactUpdate).contact;
  }
  if (!email) throw new z.errors.Error('Give an e-mail or a contact ID.', 'REQUIRED', 400);
  const { data } = await graphql(z, bundle, CREATE, { input: { email, ...fields } });
  const errors = data.contactCreate.userErrors;
  if (errors.length === 1 && errors[0].code === 'DUPLICATE_EMAIL') {
    const searches = require('./searches');
    const find = searches.find((s) => s.key === 'contact_by_email').operation.perform;
    let existing;
    try {
      [existing] = await find(z, { ...bundle, inputData: { email } });
    } catch (error) {
      // a key that sees e-mail masked: Microspace's own answer below
      if (codeOf(error) !== 'FORBIDDEN') throw error;
    }
    if (existing) {
      const input = { id: existing.id, ...fields };
      const updated = await graphql(z, bundle, UPDATE, { input });
      return payloadOf(z, updated.data.contactUpdate).contact;
    }
  }
  return payloadOf(z, data.contactCreate).contact;
};

const INVITE = `mutation($input: SpaceInviteInput!) { spaceInvite(input: $input) {
  spaceAccesses { id state invitedAt space { id title } contact { id email } } ${ERRORS} } }`;

const shareSpace = async (z, bundle) => {
  const input = { spaceId: bundle.inputData.spaceId, contactIds: [bundle.inputData.contactId] };
  if (bundle.inputData.message) input.message = bundle.inputData.message;
  const { data } = await graphql(z, bundle, INVITE, { input });
  return payloadOf(z, data.spaceInvite).spaceAccesses[0];
};

const ADD_BLOCK = `mutation($input: BlockAddInput!) { blockAdd(input: $input) {
  block { id kind position body createdAt space { id } } ${ERRORS} } }`;

const content = (z, { kind, text, level, url }) => {
  if (kind === 'HEADING') return { heading: { text, ...(level ? { level: Number(level) } : {}) } };
  if (kind === 'RICH_TEXT') return { richText: { text } };
  if (kind === 'LINK') {
    if (!url) throw new z.errors.Error('A link block needs a URL.', 'REQUIRED', 400);
    return { link: { url, ...(text ? { label: text } : {}) } };
  }
  throw new z.errors.Error(`Unknown block kind ${kind}.`, 'INVALID_KIND', 400);
};

const addBlock = async (z, bundle) => {
  const input = { spaceId: bundle.inputData.spaceId, content: content(z, bundle.inputData) };
  if (bundle.inputData.position !== undefined && bundle.inputData.position !== '') {
    input.position = Number(bundle.inputData.position);
  }
  const { data } = await graphql(z, bundle, ADD_BLOCK, { input });
  return payloadOf(z, data.blockAdd).block;
};

const spaceField = {
  key: 'spaceId',
  label: 'Space',
  required: true,
  dynamic: 'space_list.id.title',
  search: 'space.id',
};

module.exports = [
  {
    key: 'contact',
    noun: 'Contact',
    display: {
      label: 'Create or Update Contact',
      description:
        'Creates a contact, or updates it (by contact ID; by e-mail only with contacts:read_pii).',
    },
    operation: {
      inputFields: [
        { key: 'email', label: 'E-mail', helpText: 'Needed unless a contact ID is given.' },
        { key: 'contactId', label: 'Contact ID', helpText: 'Update this contact.' },
        { key: 'fullName', label: 'Full name' },
        { key: 'company', label: 'Company' },
        { key: 'jobTitle', label: 'Job title' },
        { key: 'phone', label: 'Phone' },
        { key: 'locale', label: 'Locale', helpText: 'A BCP 47 tag, e.g. de-CH.' },
      ],
      perform: upsertContact,
      sample: { id: 'Q29udGFjdDo...', email: 'jane@example.com', fullName: 'Jane Doe' },
    },
  },
  {
    key: 'space_share',
    noun: 'Space Access',
    display: {
      label: 'Share Space with Contact',
      description: 'Invites a contact to a space (Microspace e-mails them the link).',
    },
    operation: {
      inputFields: [
        spaceField,
        { key: 'contactId', label: 'Contact ID', required: true, search: 'contact_by_email.id' },
        { key: 'message', label: 'Personal note', type: 'text' },
      ],
      perform: shareSpace,
      sample: { id: 'U3BhY2VBY2Nlc3M6...', state: 'INVITED', invitedAt: '2026-01-15T09:30:00Z' },
    },
  },
  {
    key: 'block',
    noun: 'Block',
    display: { label: 'Add Block', description: 'Adds a heading, text or link block to a space.' },
    operation: {
      inputFields: [
        spaceField,
        {
          key: 'kind',
          label: 'Kind',
          required: true,
          choices: { HEADING: 'Heading', RICH_TEXT: 'Text (Markdown)', LINK: 'Link' },
        },
        { key: 'text', label: 'Text', type: 'text', helpText: "A link's label for links." },
        { key: 'level', label: 'Heading level', type: 'integer', helpText: '1 to 6.' },
        { key: 'url', label: 'URL', helpText: 'For links.' },
        { key: 'position', label: 'Position', type: 'integer', helpText: 'Defaults to the end.' },
      ],
      perform: addBlock,
      sample: { id: 'QmxvY2s6...', kind: 'HEADING', position: 0, body: { text: 'Welcome' } },
    },
  },
];
