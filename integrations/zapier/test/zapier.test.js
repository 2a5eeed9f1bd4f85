'use strict';

// Every trigger, action and search through zapier-platform-core's app tester, against a
// live Microspace API and worker that tests/test_zapier.py starts. Environment:
// MICROSPACE_URL, FULL_KEY (reads e-mail in full), MASKED_KEY (e-mail masked),
// OWNER_TOKEN (drives the events), TENANT_NAME.

const assert = require('node:assert/strict');
const http = require('node:http');
const { test, before, after } = require('node:test');
const { createAppTester } = require('zapier-platform-core');
const { validate } = require('../validate');
const App = require('../index');

const appTester = createAppTester(App);
const URL_ = process.env.MICROSPACE_URL;
const full = { apiUrl: URL_, apiKey: process.env.FULL_KEY };
const masked = { apiUrl: URL_, apiKey: process.env.MASKED_KEY };
const unique = () => Math.random().toString(36).slice(2, 10);

const gql = async (token, query, variables = {}) => {
  const response = await fetch(URL_, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const json = await response.json();
  assert.equal(json.errors, undefined, JSON.stringify(json.errors));
  return json.data;
};
const owner = (query, variables) => gql(process.env.OWNER_TOKEN, query, variables);

// a receiver on loopback standing in for Zapier's hook URL: keeps each request as received
const received = [];
let server;
let receiverUrl;
before(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ path: req.url, headers: req.headers, content: body });
      res.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${server.address().port}`;
});
after(() => server.close());

const delivery = async (path) => {
  for (let i = 0; i < 600; i += 1) {
    const found = received.find((r) => r.path === path);
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no delivery to ${path}`);
};

const subscriptionIds = async (token) =>
  (await gql(token, '{ webhookSubscriptions(first: 100) { edges { node { id } } } }'))
    .webhookSubscriptions.edges.map((e) => e.node.id);

const CONTACT = `mutation($e: String!) { contactCreate(input: {email: $e, fullName: "Jane Roe",
  jobTitle: "Buyer", phone: "+41441234567"}) { contact { id } } }`;
const newContact = async () => {
  const email = `z-${unique()}@example.com`;
  return { email, id: (await owner(CONTACT, { e: email })).contactCreate.contact.id };
};
const SPACE = 'mutation($t: String!) { spaceCreate(input: {title: $t}) { space { id title slug } } }';
const newSpace = async (title) => (await owner(SPACE, { t: title })).spaceCreate.space;
const GRANT = `mutation($c: ID!, $p: ConsentPurpose!) { consentGrant(input: {contactId: $c,
  purpose: $p, policyVersion: "v1"}) { userErrors { code } } }`;

// Subscribe, make the event happen, receive and verify its delivery, check a forged one
// is refused, unsubscribe; returns the record the Zap would get.
const roundTrip = async (key, authData, cause) => {
  const trigger = App.triggers[key].operation;
  const path = `/hooks/${key}-${unique()}`;
  const subscribeData = await appTester(trigger.performSubscribe, {
    authData,
    targetUrl: `${receiverUrl}${path}`,
  });
  assert.match(subscribeData.signingSecret, /^whsec_/);
  assert.ok((await subscriptionIds(authData.apiKey)).includes(subscribeData.id));

  const expected = await cause();
  const request = await delivery(path);
  const bundle = { authData, subscribeData, rawRequest: request, cleanedRequest: JSON.parse(request.content) };
  const [record] = await appTester(trigger.perform, bundle);
  assert.equal(record.eventType, subscribeData.eventType);
  assert.equal(record.id, bundle.cleanedRequest.data.eventId);

  // an altered body, or a signature by another secret, stops the Zap
  const forged = { ...request, content: request.content.replace('"data"', '"data" ') };
  await assert.rejects(appTester(trigger.perform, { ...bundle, rawRequest: forged }), /did not verify/);
  const other = { ...subscribeData, signingSecret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` };
  await assert.rejects(appTester(trigger.perform, { ...bundle, subscribeData: other }), /did not verify/);

  await appTester(trigger.performUnsubscribe, { authData, subscribeData });
  assert.ok(!(await subscriptionIds(authData.apiKey)).includes(subscribeData.id));

  const sample = await appTester(trigger.performList, { authData });
  assert.ok(Array.isArray(sample) && sample.length >= 1, key);
  for (const item of sample) assert.ok(item.id && item.eventType === record.eventType, key);
  return { record, expected, sample };
};

test('the definition validates against zapier-platform-schema, and a broken one does not', async () => {
  assert.deepEqual(await validate(), []);
  const { createAppHandler } = require('zapier-platform-core');
  const { space_list: list } = App.triggers;
  const broken = { ...App, triggers: { ...App.triggers, space_list: { ...list, operation: {} } } };
  const { results } = await createAppHandler(broken)({ command: 'validate' });
  assert.ok(results.length > 0);
});

test("each trigger's static sample names its object as Microspace's own sample of the event", async () => {
  const { apiSample } = require('../lib/hooks');
  const hooks = Object.values(App.triggers).filter((t) => t.operation.type === 'hook');
  assert.equal(hooks.length, 6);
  for (const { key, operation } of hooks) {
    const [api] = await appTester(apiSample(operation.sample.eventType), { authData: full });
    const { objectType, objectId, eventType } = operation.sample;
    assert.deepEqual({ objectType, objectId, eventType }, {
      objectType: api.objectType,
      objectId: api.objectId,
      eventType: api.eventType,
    }, key);
    if (operation.sample.object) assert.equal(operation.sample.object.id, api.objectId, key);
  }
});

test('verification: any of several signatures (a secret rotation), within five minutes', () => {
  const { problem, sign } = require('../lib/verify');
  const secret = (n) => `whsec_${Buffer.alloc(32, n).toString('base64')}`;
  const now = Date.now();
  const at = String(Math.floor(now / 1000));
  const body = '{"type":"contact.created"}';
  const both = `v1,${sign(secret(1), 'msg_1', at, body)} v1,${sign(secret(2), 'msg_1', at, body)}`;
  const headers = { 'Http-Webhook-Id': 'msg_1', 'Http-Webhook-Timestamp': at, 'Http-Webhook-Signature': both };
  assert.equal(problem(secret(1), headers, body, now), null);
  assert.equal(problem(secret(2), headers, body, now), null);
  assert.match(problem(secret(3), headers, body, now), /no signature matches/);
  assert.match(problem(secret(1), headers, body, now + 301 * 1000), /timestamp/);
  assert.match(problem(secret(1), { ...headers, 'Http-Webhook-Id': 'msg_2' }, body, now), /no signature/);
});

test('authentication: a partner key, the connection named after the tenant', async () => {
  const viewer = await appTester(App.authentication.test, { authData: full });
  assert.equal(viewer.kind, 'partner');
  assert.equal(viewer.tenantName, process.env.TENANT_NAME);
  assert.equal(App.authentication.connectionLabel, '{{bundle.inputData.tenantName}}');
  const bad = { apiUrl: URL_, apiKey: 'msp_not-a-key' };
  await assert.rejects(appTester(App.authentication.test, { authData: bad }), /UNAUTHENTICATED/);
  await assert.rejects(
    appTester(App.authentication.test, { authData: { apiUrl: URL_, apiKey: process.env.OWNER_TOKEN } }),
    /partner API key/,
  );
});

test('trigger: new contact, in full for a key reading e-mail, masked for the other', async () => {
  const { record, expected, sample } = await roundTrip('contact_created', full, newContact);
  assert.equal(record.objectType, 'Contact');
  assert.equal(record.object.email, expected.email);
  assert.equal(record.object.jobTitle, 'Buyer');
  assert.equal(record.objectId, expected.id);
  assert.ok(sample.some((s) => s.object.email === expected.email));

  const hidden = await roundTrip('contact_created', masked, newContact);
  assert.equal(hidden.record.objectId, hidden.expected.id);
  assert.notEqual(hidden.record.object.email, hidden.expected.email);
  assert.match(hidden.record.object.email, /\*\*\*/);
  assert.ok(hidden.sample.every((s) => !s.object.email.includes(hidden.expected.email)));
  // the polling sample reads the contact as the delivery did: same values, same redactions
  const same = hidden.sample.find((s) => s.objectId === hidden.expected.id);
  assert.deepEqual(same.object, hidden.record.object);
  assert.deepEqual(same.redactions, hidden.record.redactions);
  assert.notEqual(hidden.record.object.jobTitle, 'Buyer');
  assert.notEqual(hidden.record.object.phone, '+41441234567');
});

test('trigger: consent withdrawn', async () => {
  const { record } = await roundTrip('consent_withdrawn', full, async () => {
    const contact = await newContact();
    await owner(GRANT, { c: contact.id, p: 'MARKETING_EMAIL' });
    await owner(
      'mutation($c: ID!) { consentWithdraw(input: {contactId: $c, purpose: MARKETING_EMAIL}) { event { id } } }',
      { c: contact.id },
    );
    return contact;
  });
  assert.equal(record.objectType, 'ConsentEvent');
  assert.equal(record.object.action, 'WITHDRAWN');
});

test('trigger: contact erased (names the contact, carries nothing about them)', async () => {
  const { record, expected } = await roundTrip('contact_erased', full, async () => {
    const contact = await newContact();
    const filed = await owner(
      'mutation($e: String) { subjectErasureRequest(input: {email: $e}) { request { id } } }',
      { e: contact.email },
    );
    const id = filed.subjectErasureRequest.request.id;
    await owner(
      'mutation($id: ID!) { subjectRequestVerify(input: {id: $id, attestation: "Seen in person"}) { request { id } } }',
      { id },
    );
    await owner('mutation($id: ID!) { subjectRequestProcess(id: $id) { request { id } } }', { id });
    return contact;
  });
  assert.equal(record.objectId, expected.id);
  assert.equal(record.object, null);
});

test('trigger: space published, and the polling sample names each publish', async () => {
  const { record, expected, sample } = await roundTrip('space_published', masked, async () => {
    const space = await newSpace(`Published ${unique()}`);
    await owner(
      'mutation($s: ID!) { blockAdd(input: {spaceId: $s, content: {heading: {text: "Hello"}}}) { block { id } } }',
      { s: space.id },
    );
    const published = await owner(
      'mutation($id: ID!) { spacePublish(id: $id) { space { id status publishedAt } userErrors { code } } }',
      { id: space.id },
    );
    assert.deepEqual(published.spacePublish.userErrors, []);
    return { ...space, publishedAt: published.spacePublish.space.publishedAt };
  });
  assert.equal(record.objectType, 'Space');
  assert.equal(record.objectId, expected.id);
  assert.equal(record.object.title, expected.title);
  assert.equal(record.object.status, 'PUBLISHED');
  const polled = sample.find((s) => s.objectId === expected.id);
  assert.ok(polled, 'the published space is in the polling sample');
  assert.equal(polled.id, `${expected.id}@${expected.publishedAt}`);
  assert.deepEqual(polled.object, record.object);
  // newest publish first
  const times = sample.map((s) => Date.parse(s.occurredAt));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));

  // published again (a new revision): a new item for Zapier, not a duplicate of the first
  await owner('mutation($id: ID!) { spacePublish(id: $id) { userErrors { code } } }', { id: expected.id });
  const again = await appTester(App.triggers.space_published.operation.performList, { authData: masked });
  const republished = again.find((s) => s.objectId === expected.id);
  assert.notEqual(republished.id, polled.id);
  assert.equal(again[0].objectId, expected.id);
});

test('trigger: space viewed, recorded under analytics consent', async () => {
  const space = await newSpace(`Viewed ${unique()}`);
  const { record } = await roundTrip('space_viewed', full, async () => {
    const contact = await newContact();
    await owner(GRANT, { c: contact.id, p: 'ANALYTICS' });
    const recorded = await owner(
      'mutation($c: ID!, $s: ID!) { usageRecord(input: {contactId: $c, spaceId: $s}) { recorded } }',
      { c: contact.id, s: space.id },
    );
    assert.equal(recorded.usageRecord.recorded, true);
    return contact;
  });
  assert.equal(record.objectId, space.id);
  assert.equal(record.object.title, space.title);
});

test('trigger: subject request received', async () => {
  const { record, sample } = await roundTrip('subject_request_received', full, async () => {
    const contact = await newContact();
    await owner(
      'mutation($e: String) { subjectAccessRequest(input: {email: $e}) { request { id } } }',
      { e: contact.email },
    );
    return contact;
  });
  assert.equal(record.object.kind, 'ACCESS');
  assert.ok(sample.some((s) => s.id === record.objectId));
});

const ROTATE = `mutation($id: ID!, $s: Int!) { webhookSubscriptionRotateSecret(input: {id: $id,
  overlapSeconds: $s}) { signingSecret userErrors { code } } }`;

test('a secret rotation: the secret Zapier kept verifies during the overlap, and not after', async () => {
  const trigger = App.triggers.contact_created.operation;
  const path = `/hooks/rotation-${unique()}`;
  const subscribeData = await appTester(trigger.performSubscribe, {
    authData: full,
    targetUrl: `${receiverUrl}${path}`,
  });
  const rotate = async (seconds) => {
    const variables = { id: subscribeData.id, s: seconds };
    const { webhookSubscriptionRotateSecret: r } = await gql(full.apiKey, ROTATE, variables);
    assert.deepEqual(r.userErrors, []);
    return r.signingSecret;
  };
  // the delivery about a new contact, run through the trigger with the secret given
  const deliver = async () => {
    const contact = await newContact();
    for (let i = 0; i < 600; i += 1) {
      const request = received.find((r) => r.path === path && r.content.includes(contact.id));
      if (request) {
        return (signingSecret) =>
          appTester(trigger.perform, {
            authData: full,
            subscribeData: { ...subscribeData, signingSecret },
            rawRequest: request,
          });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('no delivery');
  };
  const kept = subscribeData.signingSecret;

  const overlapping = await rotate(3600);
  const during = await deliver();
  assert.equal((await during(kept)).length, 1);
  assert.equal((await during(overlapping)).length, 1);

  const last = await rotate(0);
  const after = await deliver();
  await assert.rejects(after(kept), /did not verify/);
  await assert.rejects(after(overlapping), /did not verify/);
  assert.equal((await after(last)).length, 1);

  await appTester(trigger.performUnsubscribe, { authData: full, subscribeData });
});

test('action: create or update a contact', async () => {
  const email = `a-${unique()}@example.com`;
  const created = await appTester(App.creates.contact.operation.perform, {
    authData: full,
    inputData: { email, fullName: 'Ann Lee' },
  });
  assert.equal(created.email, email);
  const again = await appTester(App.creates.contact.operation.perform, {
    authData: full,
    inputData: { email, company: 'Initech' },
  });
  assert.equal(again.id, created.id);
  assert.equal(again.company, 'Initech');
  const byId = await appTester(App.creates.contact.operation.perform, {
    authData: masked,
    inputData: { contactId: created.id, jobTitle: 'CEO' },
  });
  assert.equal(byId.id, created.id);
  assert.notEqual(byId.email, email);
  // the masked key cannot update by e-mail: Microspace's user error, nothing learnt
  await assert.rejects(
    appTester(App.creates.contact.operation.perform, { authData: masked, inputData: { email } }),
    /DUPLICATE_EMAIL|SUPPRESSED/,
  );
  await assert.rejects(
    appTester(App.creates.contact.operation.perform, { authData: full, inputData: { email: 'nope' } }),
    /INVALID_EMAIL/,
  );
});

test('actions: share a space with a contact, add a block; the spaces dropdown', async () => {
  const space = await newSpace(`Shared ${unique()}`);
  const listed = await appTester(App.triggers.space_list.operation.perform, {
    authData: full,
    meta: { page: 0 },
  });
  assert.ok(listed.some((s) => s.id === space.id && s.title === space.title));

  const contact = await newContact();
  const access = await appTester(App.creates.space_share.operation.perform, {
    authData: full,
    inputData: { spaceId: space.id, contactId: contact.id, message: 'Welcome' },
  });
  assert.equal(access.state, 'INVITED');
  assert.equal(access.space.id, space.id);

  const block = await appTester(App.creates.block.operation.perform, {
    authData: full,
    inputData: { spaceId: space.id, kind: 'HEADING', text: 'Welcome', level: 1 },
  });
  assert.equal(block.kind, 'HEADING');
  assert.equal(block.space.id, space.id);
  await assert.rejects(
    appTester(App.creates.block.operation.perform, {
      authData: full,
      inputData: { spaceId: space.id, kind: 'LINK', url: 'not a url' },
    }),
    /\[[A-Z_]+\]/,
  );
  // the masked key may read spaces but not write them: the scope error, named
  await assert.rejects(
    appTester(App.creates.block.operation.perform, {
      authData: masked,
      inputData: { spaceId: space.id, kind: 'RICH_TEXT', text: 'x' },
    }),
    /FORBIDDEN/,
  );
});

const TEMPLATE = `mutation($t: String!) { spaceCreate(input: {title: $t, isTemplate: true}) {
  space { id title } userErrors { code } } }`;
const PERSONAL_SPACES = `query($c: ID!) { contact(id: $c) { spaces(first: 10) {
  edges { node { state space { id title } } } } } }`;

test('action: personalised spaces from a template; the templates dropdown', async () => {
  const made = await owner(TEMPLATE, { t: `Template ${unique()}` });
  assert.deepEqual(made.spaceCreate.userErrors, []);
  const template = made.spaceCreate.space;
  await owner(
    'mutation($s: ID!) { blockAdd(input: {spaceId: $s, content: {heading: {text: "Hello {{contact.firstName | there}}"}}}) { block { id } } }',
    { s: template.id },
  );
  const plain = await newSpace(`Plain ${unique()}`);
  const templates = await appTester(App.triggers.template_list.operation.perform, { authData: full, meta: { page: 0 } });
  assert.ok(templates.some((t) => t.id === template.id && t.title === template.title));
  assert.ok(!templates.some((t) => t.id === plain.id), 'a plain space is no template');

  const contacts = [await newContact(), await newContact(), await newContact()];
  const job = await appTester(App.creates.personalised_spaces.operation.perform, {
    authData: full,
    inputData: { templateId: template.id, contactIds: contacts.map((c) => c.id), follow: true },
  });
  const counts = (j) => [j.state, j.requested, j.created, j.skipped, j.invited];
  assert.deepEqual(counts(job), ['COMPLETED', 3, 3, 0, 3]);
  assert.equal(job.template.id, template.id);
  for (const contact of contacts) {
    const { contact: read } = await owner(PERSONAL_SPACES, { c: contact.id });
    assert.equal(read.spaces.edges.length, 1);
    assert.equal(read.spaces.edges[0].node.state, 'INVITED');
    assert.equal(read.spaces.edges[0].node.space.title, template.title);
  }
  // a contact that has one is skipped; "no" to e-mails shares without one
  const late = await newContact();
  const second = await appTester(App.creates.personalised_spaces.operation.perform, {
    authData: full,
    inputData: { templateId: template.id, contactIds: [contacts[0].id, late.id], invite: 'false' },
  });
  assert.deepEqual(counts(second), ['COMPLETED', 2, 1, 1, 0]);

  // errors keep the API's code: no template by that ID, a space that is no template, a key
  // whose scopes do not allow it
  await assert.rejects(
    appTester(App.creates.personalised_spaces.operation.perform, {
      authData: full,
      inputData: { templateId: plain.id, contactIds: [contacts[0].id] },
    }),
    /NOT_A_TEMPLATE/,
  );
  await assert.rejects(
    appTester(App.creates.personalised_spaces.operation.perform, {
      authData: masked,
      inputData: { templateId: template.id, contactIds: [contacts[0].id] },
    }),
    /FORBIDDEN/,
  );
  await assert.rejects(
    appTester(App.creates.personalised_spaces.operation.perform, { authData: full, inputData: { templateId: template.id } }),
    /contact ID/,
  );
});

test('searches: a contact by e-mail (full readers only), a space', async () => {
  const contact = await newContact();
  const found = await appTester(App.searches.contact_by_email.operation.perform, {
    authData: full,
    inputData: { email: contact.email.toUpperCase() },
  });
  assert.deepEqual(found.map((c) => c.id), [contact.id]);
  const none = await appTester(App.searches.contact_by_email.operation.perform, {
    authData: full,
    inputData: { email: `nobody-${unique()}@example.com` },
  });
  assert.deepEqual(none, []);
  // no existence oracle: the masked key gets the same refusal for a known and an unknown address
  const refusals = [];
  for (const email of [contact.email, `nobody-${unique()}@example.com`]) {
    await assert.rejects(
      appTester(App.searches.contact_by_email.operation.perform, { authData: masked, inputData: { email } }),
      (error) => {
        refusals.push(JSON.parse(error.message));
        return /contacts:read_pii/.test(error.message);
      },
    );
  }
  assert.deepEqual(refusals[0], refusals[1]);

  const space = await newSpace(`Findable ${unique()}`);
  for (const query of [space.title.toUpperCase(), space.slug, space.id]) {
    const spaces = await appTester(App.searches.space.operation.perform, { authData: full, inputData: { query } });
    assert.deepEqual(spaces.map((s) => s.id), [space.id], query);
  }
});
