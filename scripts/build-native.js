#!/usr/bin/env node
// Builds the optional native kernels (native/onednn.cc): convolutions and matmuls on oneDNN for the wasm backend
// (see src/core/backend/onednn.ts). Needs a C++ compiler and Debian's libdnnl-dev (`apt-get install g++ libdnnl-dev`);
// the Node-API headers come from the node-api-headers package.
//
//   node scripts/build-native.js               build native/build/onednn.node, or exit 1 saying what is missing
//   node scripts/build-native.js --if-possible the same when the compiler and oneDNN are there, else say why and exit 0
//                                              (npm's postinstall: installing never fails for want of them)
//   node scripts/build-native.js --portable    build native/build/portable/: the addon for the linux-x64 .vsix
//
// The default build is for the machine that runs it: -march=native, linked to the system's libdnnl. The portable one
// runs on any x86-64 Linux with glibc: no -march (oneDNN picks its instruction set at run time by itself), plus a
// second copy of the addon for x86-64-v3 CPUs (AVX2, FMA: onednn-x86-64-v3.node), whose own loops then run as fast as
// the -march=native build's (the loader picks it from the CPU's flags), and it carries the libraries it needs beside itself: libdnnl and its dependencies
// beyond glibc (OpenMP, the OpenCL loader, the C++ runtime), each a direct dependency of the addon found through a
// $ORIGIN run path, with their licence texts in native/build/portable/licenses/. Both use OpenMP (oneDNN's runtime).
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const src = path.join(root, 'native', 'onednn.cc');
const portable = process.argv.includes('--portable');
const outDir = portable ? path.join(root, 'native', 'build', 'portable') : path.join(root, 'native', 'build');
const out = path.join(outDir, 'onednn.node');
const ifPossible = process.argv.includes('--if-possible');

function give(reason) {
  const msg = `neuron-lens: ${portable ? 'portable ' : ''}native kernels not built: ${reason}; the wasm backend runs without them`;
  if (ifPossible) {
    console.log(msg);
    process.exit(0);
  }
  console.error(msg);
  process.exit(1);
}

/** glibc's own libraries: the one thing the portable build takes from the user's system. */
const GLIBC = /^(libc|libm|libdl|libpthread|librt|libresolv|ld-linux-x86-64|linux-vdso)\.so/;

/** The shared libraries `file` loads, as resolved on this machine: [{ soname, file }]. */
function sharedDeps(file) {
  const r = spawnSync('ldd', [file], { encoding: 'utf8' });
  if (r.status !== 0) give(`ldd ${file} failed: ${r.stderr.trim()}`);
  const deps = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s*(\S+) => (\S+)/.exec(line);
    if (m && m[2] === 'not') give(`${file} needs ${m[1]}, which is not installed`);
    if (m) deps.push({ soname: m[1], file: m[2] });
  }
  return deps;
}

/** The Debian package owning `file` and its copyright file (licence texts, notices). */
function copyrightOf(file) {
  // dpkg knows a file by the path its package installs (/lib or /usr/lib after Debian's merged /usr).
  const real = fs.realpathSync(file);
  const names = [real, real.startsWith('/usr/') ? real.slice(4) : `/usr${real}`];
  const r = spawnSync('dpkg', ['-S', ...names], { encoding: 'utf8' });
  const pkg = r.stdout.trim() ? r.stdout.split(':')[0].trim() : null;
  const copyright = pkg && `/usr/share/doc/${pkg}/copyright`;
  if (!copyright || !fs.existsSync(copyright)) give(`no licence file found for ${file} (dpkg -S: ${pkg ?? r.stderr.trim()}); the portable build needs Debian's packages`);
  return { pkg, copyright };
}

if (process.env.NEURON_LENS_NATIVE === '0') give('NEURON_LENS_NATIVE=0');
if (process.platform !== 'linux') give(`only Linux builds are set up (this is ${process.platform})`);
if (portable && process.arch !== 'x64') give(`the portable build is set up for x64 only (this is ${process.arch})`);
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

const common = ['-O3', '-std=c++17', '-fopenmp', '-shared', '-fPIC', '-Wall', `-I${napiInclude}`, `-I${path.dirname(path.dirname(dnnlHeader))}`, src];
let args;
let bundle = [];
if (!portable) {
  args = [...common, '-march=native', '-ldnnl'];
} else {
  const libdnnl = ['/usr/lib/x86_64-linux-gnu/libdnnl.so', '/usr/local/lib/libdnnl.so'].find((f) => fs.existsSync(f));
  if (!libdnnl) give('libdnnl.so not found; apt-get install libdnnl-dev');
  const dnnl = { soname: path.basename(fs.realpathSync(libdnnl)).replace(/^(lib\w+\.so\.\d+).*$/, '$1'), file: libdnnl };
  // Every library libdnnl loads (and libgomp, which the addon's own loops use) becomes a direct dependency of the
  // addon, so the addon's $ORIGIN run path finds all of them beside it: a run path does not apply to the
  // dependencies of dependencies, but a library already loaded under its soname is not looked for again.
  bundle = [dnnl, ...sharedDeps(libdnnl).filter((d) => !GLIBC.test(d.soname))];
  if (!bundle.some((d) => d.soname.startsWith('libgomp.so'))) give(`${libdnnl} is not built with OpenMP (libgomp); the addon needs it`);
  args = [...common, '-DNEURON_LENS_PORTABLE', '-Wl,-rpath,$ORIGIN', '-Wl,--no-as-needed', ...bundle.map((d) => d.file)];
}

fs.mkdirSync(outDir, { recursive: true });
const t0 = Date.now();
// [file, extra flags]: the portable build's run-time variants (src/core/backend/onednn.ts picks one by the CPU's flags).
const outputs = portable ? [[out, []], [path.join(outDir, 'onednn-x86-64-v3.node'), ['-march=x86-64-v3']]] : [[out, []]];
for (const [file, extra] of outputs) {
  const tmp = `${file}.tmp`;
  const r = spawnSync(cxx, [...args, ...extra, '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    fs.rmSync(tmp, { force: true });
    give(`${cxx} failed (exit ${r.status})`);
  }
}
if (portable) {
  // The libraries under their sonames (what the loader looks for), and each package's copyright file.
  const licenses = path.join(outDir, 'licenses');
  fs.rmSync(licenses, { recursive: true, force: true });
  fs.mkdirSync(licenses);
  const notes = [];
  const texts = new Set();
  for (const d of bundle) {
    fs.copyFileSync(fs.realpathSync(d.file), path.join(outDir, d.soname));
    const { pkg, copyright } = copyrightOf(d.file);
    fs.copyFileSync(copyright, path.join(licenses, `${pkg}.copyright`));
    notes.push(`${d.soname}: Debian package ${pkg} (licence: licenses/${pkg}.copyright)`);
    // Debian's copyright files name the full licence texts by path (Apache-2.0, GPL-3, ...): those come along too.
    for (const m of fs.readFileSync(copyright, 'utf8').matchAll(/\/usr\/share\/common-licenses\/([\w.+-]*[\w+-])/g)) texts.add(m[1]);
  }
  for (const t of texts) {
    const f = `/usr/share/common-licenses/${t}`;
    if (fs.existsSync(f)) fs.copyFileSync(f, path.join(licenses, t));
  }
  if (!fs.existsSync(path.join(licenses, 'Apache-2.0'))) give('the Apache-2.0 text oneDNN\'s licence refers to is not in /usr/share/common-licenses');
  fs.writeFileSync(path.join(outDir, 'NOTICE'), [
    'The native kernels of Neuron Lens (onednn.node, MIT) are linked to these libraries, copied unchanged from Debian:',
    '', ...notes, '',
    'oneDNN: Copyright 2016-2020 Intel Corporation, and contributors; Apache License 2.0 (see licenses/).',
    'The GCC runtime libraries are under the GPL-3 with the GCC Runtime Library Exception (see licenses/).', '',
  ].join('\n'));
}
for (const [file] of outputs) fs.renameSync(`${file}.tmp`, file); // never leave a half-written addon where the loader looks
console.log(`neuron-lens: built ${outputs.map(([f]) => path.relative(root, f)).join(', ')} (${portable ? `portable, with ${bundle.map((d) => d.soname).join(', ')}` : 'oneDNN'}, ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
