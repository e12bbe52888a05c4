#!/usr/bin/env node
'use strict';
// The CLI ships bundled in dist/; from a source checkout without a build, run the TypeScript directly.
const fs = require('fs');
const path = require('path');
const bundled = path.join(__dirname, '..', 'dist', 'cli.js');
if (fs.existsSync(bundled)) {
  require(bundled);
} else {
  require('tsx/cjs');
  require(path.join(__dirname, '..', 'src', 'cli', 'bin.ts'));
}
