#!/usr/bin/env node
// Builds the optional native kernels (native/onednn.cc -> native/build/onednn.node): convolutions and matmuls on
// oneDNN for the wasm backend (see src/core/backend/onednn.ts). Needs a C++ compiler and Debian's libdnnl-dev
// (`apt-get install g++ libdnnl-dev`); the Node-API headers come from the node-api-headers package.
//
//   node scripts/build-native.js               build, or exit 1 saying what is missing
//   node scripts/build-native.js --if-possible build when the compiler and oneDNN are there, else say why and exit 0
//                                              (npm's postinstall: installing never fails for want of them)
//
// Compiled with -march=native (the addon is built on the machine that runs it) and OpenMP (oneDNN's own runtime here).
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'native', 'onednn.cc');
const outDir = path.join(root, 'native', 'build');
const out = path.join(outDir, 'onednn.node');
const ifPossible = process.argv.includes('--if-possible');

function give(reason) {
  const msg = `neuron-lens: native kernels not built: ${reason}; the wasm backend runs without them`;
  if (ifPossible) {
    console.log(msg);
    process.exit(0);
  }
  console.error(msg);
  process.exit(1);
}

if (process.env.NEURON_LENS_NATIVE === '0') give('NEURON_LENS_NATIVE=0');
if (process.platform !== 'linux') give(`only Linux builds are set up (this is ${process.platform})`);
const cxx = process.env.CXX || 'g++';
if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status !== 0) give(`no C++ compiler (${cxx}); apt-get install g++`);
const dnnlHeader = ['/usr/include/oneapi/dnnl/dnnl.hpp', '/usr/local/include/oneapi/dnnl/dnnl.hpp'].find((f) => fs.existsSync(f));
if (!dnnlHeader) give('oneDNN headers not found; apt-get install libdnnl-dev');
let napiInclude;
try {
  napiInclude = path.join(path.dirname(require.resolve('node-api-headers/package.json')), 'include');
} catch {
  give('the node-api-headers package is not installed (npm ci installs it)');
}

fs.mkdirSync(outDir, { recursive: true });
const tmp = `${out}.tmp`;
const args = ['-O3', '-march=native', '-std=c++17', '-fopenmp', '-shared', '-fPIC', '-Wall', `-I${napiInclude}`, `-I${path.dirname(path.dirname(dnnlHeader))}`,
  src, '-o', tmp, '-ldnnl'];
const t0 = Date.now();
const r = spawnSync(cxx, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.status !== 0) {
  fs.rmSync(tmp, { force: true });
  give(`${cxx} failed (exit ${r.status})`);
}
fs.renameSync(tmp, out); // never leave a half-written addon where the loader looks
console.log(`neuron-lens: built ${path.relative(root, out)} (oneDNN, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
