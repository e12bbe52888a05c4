// Bundles the CLI, the engine process, the extension and the webview into dist/, and copies the wasm
// backend's binaries next to them (the backend looks for them beside its bundle first).
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const watch = process.argv.includes('--watch');
const dist = path.join(__dirname, 'dist');

/** Optional backends a user may install; never bundled. */
const optional = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'webgpu', '@tensorflow/tfjs-backend-webgpu'];

const node = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  external: ['vscode', ...optional],
  // tfjs backends register themselves on import; their package.json 'sideEffects' lists would let
  // esbuild drop those imports.
  ignoreAnnotations: true,
};

const builds = [
  { ...node, entryPoints: { cli: 'src/cli/bin.ts' }, outdir: dist },
  ...(fs.existsSync('src/engine/main.ts') ? [{ ...node, entryPoints: { engine: 'src/engine/main.ts' }, outdir: dist }] : []),
  { ...node, entryPoints: { extension: 'src/extension.ts' }, outdir: dist },
  ...(fs.existsSync('src/webview/main.ts')
    ? [{ bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: true, logLevel: 'warning', entryPoints: { webview: 'src/webview/main.ts', attack: 'src/webview/attack.ts' }, outdir: dist }]
    : []),
];

/** Copies what the wasm backend loads at run time next to a bundle in `dest`. */
function copyWasm(dest) {
  const src = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  fs.mkdirSync(dest, { recursive: true });
  for (const f of fs.readdirSync(src).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(src, f), path.join(dest, f));
  // The threaded build's standalone emscripten glue and pthread worker script (see src/core/backend/wasmThreads.ts).
  for (const f of ['tfjs-backend-wasm-threaded-simd.js', 'tfjs-backend-wasm-threaded-simd.worker.js']) {
    fs.copyFileSync(path.join(src, '..', 'wasm-out', f), path.join(dest, f));
  }
}

async function main() {
  copyWasm(dist);
  if (watch) {
    for (const b of builds) await (await esbuild.context(b)).watch();
    return;
  }
  await Promise.all(builds.map((b) => esbuild.build(b)));
}

if (require.main === module) main().catch((e) => { console.error(e.message); process.exit(1); });

module.exports = { copyWasm };
