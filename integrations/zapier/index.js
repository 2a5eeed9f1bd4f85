'use strict';

// Microspace on Zapier: a partner API key (custom auth), triggers as REST hooks on
// Microspace's signed webhooks, actions and searches through its GraphQL API.

const { version } = require('./package.json');
const { version: platformVersion } = require('zapier-platform-core');
const { addApiKey, graphql } = require('./lib/api');
const triggers = require('./triggers');
const creates = require('./creates');
const searches = require('./searches');

const VIEWER = '{ viewer { kind tenantId tenantName roles } }';

const authentication = {
  type: 'custom',
  fields: [
    {
      key: 'apiUrl',
      label: 'API address',
      required: true,
      type: 'string',
      helpText: "Your Microspace API's address, e.g. `https://api.example.com/graphql`.",
    },
    {
      key: 'apiKey',
      label: 'Partner API key',
      required: true,
      type: 'password',
      helpText:
        'A partner key (`msp_...`) an owner or admin issued in Microspace, with the scopes the Zaps need.',
    },
  ],
  test: async (z, bundle) => {
    const { data } = await graphql(z, bundle, VIEWER);
    if (data.viewer.kind !== 'partner') {
      throw new z.errors.Error('Connect with a partner API key (msp_...).', 'NOT_A_PARTNER_KEY', 400);
    }
    return data.viewer;
  },
  // names the tenant, so one account with several tenants tells its connections apart
  connectionLabel: '{{bundle.inputData.tenantName}}',
};

const byKey = (list) => Object.fromEntries(list.map((item) => [item.key, item]));

module.exports = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addApiKey],
  triggers: byKey(triggers),
  creates: byKey(creates),
  searches: byKey(searches),
};
