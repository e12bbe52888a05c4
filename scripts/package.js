#!/usr/bin/env node
// `npm run package`: bundles the extension (esbuild.js) and packages it twice, the VS Code way for platform-specific
// extensions (vsce package --target):
//   neuron-lens.vsix            universal: runs everywhere on wasm alone
//   neuron-lens-linux-x64.vsix  for x86-64 Linux: also carries the portable native kernels (native/build/portable/:
//                               the addon, Debian's libdnnl and the rest beyond glibc, their licences), which the
//                               engine uses when they load and pass their check on the machine, else wasm alone
// The portable addon is built first (scripts/build-native.js --portable: needs g++ and libdnnl-dev); without them the
// universal package is still made and this exits 1 saying why the linux-x64 one is not.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.join(__dirname, '..');
const VSCE = [require.resolve('@vscode/vsce/vsce'), 'package', '--no-dependencies', '--allow-missing-repository', '--skip-license'];
/** What the linux-x64 package adds to .vscodeignore's list. */
const LINUX_X64_FILES = ['!native/build/portable/*.node', '!native/build/portable/*.so.*', '!native/build/portable/NOTICE', '!native/build/portable/licenses/**'];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`neuron-lens package: ${path.basename(cmd)} ${args.filter((a) => !a.includes(path.sep)).join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

function size(file) {
  return `${(fs.statSync(path.join(root, file)).size / 1e6).toFixed(1)} MB`;
}

run(process.execPath, ['esbuild.js']);
run(process.execPath, [...VSCE, '-o', 'neuron-lens.vsix']);
console.log(`neuron-lens package: neuron-lens.vsix (universal, wasm alone) ${size('neuron-lens.vsix')}`);
run(process.execPath, ['scripts/build-native.js', '--portable']);
const ignore = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'nl-package-')), '.vscodeignore');
try {
  fs.writeFileSync(ignore, `${fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').trimEnd()}\n${LINUX_X64_FILES.join('\n')}\n`);
  run(process.execPath, [...VSCE, '--target', 'linux-x64', '--ignoreFile', ignore, '-o', 'neuron-lens-linux-x64.vsix']);
} finally {
  fs.rmSync(path.dirname(ignore), { recursive: true, force: true });
}
console.log(`neuron-lens package: neuron-lens-linux-x64.vsix (wasm + native oneDNN kernels) ${size('neuron-lens-linux-x64.vsix')}`);
