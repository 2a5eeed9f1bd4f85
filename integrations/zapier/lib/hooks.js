'use strict';

// Triggers as REST hooks on Microspace's webhook subscriptions: subscribing creates one for
// Zapier's target URL (the key subscribes for itself, so payloads are read with its scopes
// and arrive redacted exactly as it would read them), unsubscribing deletes it, and every
// delivery's Standard Webhooks signature is checked before the Zap sees it.

const { graphql, payloadOf } = require('./api');
const { problem } = require('./verify');

const SUBSCRIBE = `mutation($input: WebhookSubscriptionCreateInput!) {
  webhookSubscriptionCreate(input: $input) {
    subscription { id eventTypes } signingSecret userErrors { code field message } } }`;
const UNSUBSCRIBE = `mutation($id: ID!) {
  webhookSubscriptionDelete(id: $id) { deletedSubscriptionId userErrors { code field message } } }`;
const SAMPLES = '{ webhookEventTypes { name samplePayload } }';

// A delivery body (`{type, timestamp, data}`) as a Zap sees it: one flat record per event.
const fromEnvelope = (envelope) => {
  const data = envelope.data || {};
  return {
    id: data.eventId,
    eventType: envelope.type,
    occurredAt: envelope.timestamp,
    objectType: data.objectType,
    objectId: data.id,
    fields: data.fields || [],
    object: data.object === undefined ? null : data.object,
    redactions: data.redactions || [],
  };
};

const subscribe = (eventType) => async (z, bundle) => {
  const input = {
    url: bundle.targetUrl,
    eventTypes: [eventType],
    description: `Zapier: ${eventType}`.slice(0, 500),
  };
  const { data } = await graphql(z, bundle, SUBSCRIBE, { input });
  const payload = payloadOf(z, data.webhookSubscriptionCreate);
  // kept by Zapier as bundle.subscribeData: the id to unsubscribe, the secret to verify
  return { id: payload.subscription.id, signingSecret: payload.signingSecret, eventType };
};

const unsubscribe = async (z, bundle) => {
  const { data } = await graphql(z, bundle, UNSUBSCRIBE, { id: bundle.subscribeData.id });
  return payloadOf(z, data.webhookSubscriptionDelete);
};

const received = (eventType) => (z, bundle) => {
  const raw = bundle.rawRequest || {};
  const secret = bundle.subscribeData && bundle.subscribeData.signingSecret;
  const why = problem(secret, raw.headers, raw.content);
  if (why) {
    // not from Microspace (or altered): the Zap must not run on it
    throw new z.errors.HaltedError(`Webhook signature did not verify: ${why}.`);
  }
  const envelope = JSON.parse(raw.content);
  if (envelope.type !== eventType) {
    throw new z.errors.HaltedError(`Unexpected event type ${envelope.type}.`);
  }
  return [fromEnvelope(envelope)];
};

// Microspace's own sample of the event (webhookEventTypes), as a delivery would carry it.
const apiSample = (eventType) => async (z, bundle) => {
  const { data } = await graphql(z, bundle, SAMPLES);
  const found = data.webhookEventTypes.find((t) => t.name === eventType);
  return found ? [fromEnvelope(found.samplePayload)] : [];
};

const OUTPUT_FIELDS = [
  { key: 'id', label: 'Event ID' },
  { key: 'eventType', label: 'Event type' },
  { key: 'occurredAt', label: 'Occurred at', type: 'datetime' },
  { key: 'objectType', label: 'Object type' },
  { key: 'objectId', label: 'Object ID' },
];

// a global ID as Microspace writes one (base64url of `Type:uuid`), for the static samples
const sampleId = (type) => Buffer.from(`${type}:00000000-0000-4000-8000-000000000001`).toString('base64url');

const hookTrigger = ({ key, noun, label, description, eventType, list, sampleObject }) => {
  const objectType = noun.replace(/ /g, '');
  const objectId = sampleId(objectType);
  return {
    key,
    noun,
    display: { label, description },
    operation: {
      type: 'hook',
      performSubscribe: subscribe(eventType),
      performUnsubscribe: unsubscribe,
      perform: received(eventType),
      performList: list || apiSample(eventType),
      outputFields: OUTPUT_FIELDS,
      sample: {
        id: '3f0c2b1e-0000-4000-8000-000000000001',
        eventType,
        occurredAt: '2026-01-15T09:30:00+00:00',
        objectType,
        objectId,
        fields: [],
        object: sampleObject ? { ...sampleObject, id: objectId } : null,
        redactions: [],
      },
    },
  };
};

module.exports = { hookTrigger, fromEnvelope, apiSample };
