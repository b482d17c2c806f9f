#!/usr/bin/env node
'use strict';
// The published entry point; the bundle beside it holds the CLI and its typed client, and no dependency.
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist', 'queue-mutex.js');
if (!existsSync(bundle)) {
  process.stderr.write('queue-mutex: not built yet: run `npm run build` in the repository first\n');
  process.exit(70);
}
require(bundle);
