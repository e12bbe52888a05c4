#!/usr/bin/env node
'use strict';
// The CLI ships bundled in dist/; from a source checkout without a build, run the TypeScript directly.
const fs = require('fs');
const path = require('path');
const bundled = path.join(__dirname, '..', 'dist', 'cli.js');
let entry = bundled;
if (!fs.existsSync(bundled)) {
  require('tsx/cjs');
  entry = path.join(__dirname, '..', 'src', 'cli', 'main.ts');
}
require(entry).main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
