// Lets `node -r ./scripts/swc-register.js src/x.ts` run TypeScript directly, compiled in memory by @swc/core with
// the same options as the tests (.swcrc): legacy decorators and decorator metadata, which type-graphql and
// MikroORM need. Production can instead run the tsc build (`npm run build`, then `node dist/src/main.js`).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { transformSync } = require('@swc/core');

const options = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '.swcrc'), 'utf8'));
delete options.$schema;

require.extensions['.ts'] = function compileTypeScript(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, { ...options, filename, swcrc: false, configFile: false });
  module._compile(code, filename);
};
