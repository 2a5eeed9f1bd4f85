'use strict';

// The app definition against zapier-platform-schema, offline: the `validate` command of
// zapier-platform-core's handler (what `zapier validate` runs), no Zapier account needed.

const { createAppHandler } = require('zapier-platform-core');
const app = require('./index');

const validate = async () => {
  const { results } = await createAppHandler(app)({ command: 'validate' });
  return results;
};

if (require.main === module) {
  validate().then((errors) => {
    for (const error of errors) console.error(`${error.property}: ${error.message}`);
    if (errors.length) process.exit(1);
    console.log('valid');
  });
}

module.exports = { validate };
