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

// A job that makes one personalised space per contact from a template and shares it with
// them (docs/content.md); followed by its ID while it runs.
const JOB_FIELDS =
  'id state requested created skipped invited createdAt finishedAt failure template { id title }';
const PERSONALISE = `mutation($input: SpacePersonaliseInput!) { spacePersonalise(input: $input) {
  job { ${JOB_FIELDS} } ${ERRORS} } }`;
const JOB = `query($id: ID!) { personalisationJob(id: $id) { ${JOB_FIELDS} } }`;
// a Zapier action has 30 s: follow the job this long (the worker carries it out), then
// hand back its state as it is
const FOLLOW_MS = 20000;
const WAITING = new Set(['QUEUED', 'RUNNING']);
const POLL_MS = 500;

const contactIdsOf = (z, value) => {
  const list = Array.isArray(value) ? value : String(value || '').split(',');
  const ids = [...new Set(list.map((id) => String(id).trim()).filter(Boolean))];
  if (!ids.length) throw new z.errors.Error('Give at least one contact ID.', 'REQUIRED', 400);
  return ids;
};

const personalise = async (z, bundle) => {
  const { templateId, contactIds } = bundle.inputData;
  const input = { templateId, contactIds: contactIdsOf(z, contactIds) };
  // Zapier's booleans arrive as true/false or as text; unset keeps Microspace's default (yes)
  for (const [field, key] of [['follow', 'followTemplate'], ['invite', 'invite']]) {
    const value = bundle.inputData[field];
    if (value !== undefined && value !== null && value !== '') {
      input[key] = value === true || ['true', 'yes'].includes(String(value).toLowerCase());
    }
  }
  const { data } = await graphql(z, bundle, PERSONALISE, { input });
  let { job } = payloadOf(z, data.spacePersonalise);
  const until = Date.now() + FOLLOW_MS;
  while (WAITING.has(job.state) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    job = (await graphql(z, bundle, JOB, { id: job.id })).data.personalisationJob;
  }
  if (job.state === 'FAILED') {
    throw new z.errors.Error(
      `Microspace could not personalise the template (job ${job.id}: ${job.failure}).`,
      'JOB_FAILED',
      500,
    );
  }
  return job;
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
    key: 'personalised_spaces',
    noun: 'Personalisation Job',
    display: {
      label: 'Create Personalised Spaces from a Template',
      description:
        "Makes a personal copy of a template for each contact and shares it with them (each sees their own values in the template's merge fields). Contacts that already have a space from this template are skipped.",
    },
    operation: {
      inputFields: [
        {
          key: 'templateId',
          label: 'Template',
          required: true,
          dynamic: 'template_list.id.title',
          helpText: 'A space marked as a template.',
        },
        {
          key: 'contactIds',
          label: 'Contact IDs',
          required: true,
          list: true,
          search: 'contact_by_email.id',
          helpText: 'One personalised space for each (hundreds at once are fine).',
        },
        {
          key: 'follow',
          label: 'Follow the template',
          type: 'boolean',
          default: 'yes',
          helpText:
            "Publishing the template republishes each personalised space (blocks changed in a space are left alone).",
        },
        {
          key: 'invite',
          label: 'E-mail the invitations',
          type: 'boolean',
          default: 'yes',
          helpText:
            'Each space is shared with its contact either way; with yes Microspace e-mails them the link (if they may be e-mailed).',
        },
      ],
      perform: personalise,
      sample: {
        id: 'UGVyc29uYWxpc2F0aW9uSm9iOi4uLg==',
        state: 'COMPLETED',
        requested: 2,
        created: 2,
        skipped: 0,
        invited: 2,
        createdAt: '2026-01-15T09:30:00Z',
        finishedAt: '2026-01-15T09:30:01Z',
      },
      outputFields: [
        { key: 'id', label: 'Job ID' },
        { key: 'state', label: 'State' },
        { key: 'requested', label: 'Contacts asked for', type: 'integer' },
        { key: 'created', label: 'Spaces created', type: 'integer' },
        { key: 'skipped', label: 'Contacts skipped', type: 'integer' },
        { key: 'invited', label: 'Invitations sent', type: 'integer' },
      ],
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
