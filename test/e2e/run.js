#!/usr/bin/env node
// End-to-end test in a real VS Code, offline: code-server (VS Code 1.100.3 from npm, installed in
// test/e2e/vscode) + Debian Chromium driven by playwright-core. See ../../../shared/e2e-vscode.md.
//   1. package both .vsix (npm run package) and install the linux-x64 one into fresh code-server dirs
//   2. UI: open the Models view, expand a fixture model, right-click a layer, Visualize, wait for the
//      webview grid and check the images are not blank and that the status bar says the native kernels
//      served them (wasm + oneDNN); enlarge one; cancel a second, long run; switch to the light theme and
//      compare parameterizations; attack a photo; open an atlas ("Neuron Lens: Open Atlas…")
//   3. run the extension's own integration tests (test/e2e/suite) inside the extension host
//   4. a second code-server with the universal .vsix: the status bar says wasm alone
// Screenshots go to .test-artifacts/. Exit code 0 only if everything passed.
'use strict';
const { spawn, spawnSync, execFileSync } = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const vscodeDir = path.join(__dirname, 'vscode');
const artifacts = path.join(root, '.test-artifacts');
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
const say = (m) => console.log(`[e2e ${elapsed()}] ${m}`);

function fixturesDir() {
  if (process.env.NEURON_LENS_FIXTURES) return process.env.NEURON_LENS_FIXTURES;
  const sibling = path.resolve(root, '..', 'shared', 'fixtures');
  return fs.existsSync(sibling) ? sibling : '/work/shared/fixtures';
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with ${r.status ?? r.signal}`);
}

/** code-server's install runs node-gyp and fetches ripgrep from GitHub unless its cache has the tarball. */
function ensureCodeServer() {
  const bin = path.join(vscodeDir, 'node_modules', '.bin', 'code-server');
  if (fs.existsSync(bin)) return bin;
  say('installing code-server 4.100.3 into test/e2e/vscode (about 2 minutes, once)');
  const tmp = process.env.TMPDIR || os.tmpdir();
  const cache = path.join(tmp, 'vscode-ripgrep-cache-1.15.11');
  const tarball = path.join(cache, 'ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz');
  if (!fs.existsSync(tarball)) {
    const rg = ['/usr/bin/rg', '/usr/local/bin/rg'].find((p) => fs.existsSync(p));
    if (!rg) throw new Error('ripgrep (rg) is not installed: apt-get install -y ripgrep');
    const d = fs.mkdtempSync(path.join(tmp, 'rg-'));
    fs.copyFileSync(rg, path.join(d, 'rg'));
    fs.mkdirSync(cache, { recursive: true });
    execFileSync('tar', ['-czf', tarball, '-C', d, 'rg']);
  }
  run('npm', ['ci', '--no-audit', '--no-fund'], { cwd: vscodeDir });
  return bin;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}

function waitHttp(url, ms) {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const tryOnce = () => {
      http.get(url, (res) => { res.resume(); resolve(); }).on('error', () => {
        if (Date.now() > end) reject(new Error(`code-server did not answer at ${url} within ${ms / 1000} s`));
        else setTimeout(tryOnce, 250);
      });
    };
    tryOnce();
  });
}

function writeJson(file, obj) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(obj, null, 2));
}

/** The workspace the editor opens: a real ImageNet model, a tiny model (and a large and a broken model file), and a training script. */
function makeWorkspace(ws) {
  const mobilenet = path.join(fixturesDir(), 'models', 'mobilenet_v1_0.25_224');
  if (!fs.existsSync(path.join(mobilenet, 'model.json'))) throw new Error(`fixture model missing: ${mobilenet}`);
  fs.cpSync(mobilenet, path.join(ws, 'models', 'mobilenet_v1_0.25_224'), { recursive: true });
  fs.mkdirSync(path.join(ws, 'images'), { recursive: true });
  fs.copyFileSync(path.join(fixturesDir(), 'images', 'coral_bird.png'), path.join(ws, 'images', 'coral_bird.png'));
  // A folder of example images for the panel's dataset examples: the twelve fixture photos.
  fs.cpSync(path.join(fixturesDir(), 'images'), path.join(ws, 'examples'), { recursive: true });
  // The fixture's images are RGB / 127.5 - 1.
  writeJson(path.join(ws, 'models', 'mobilenet_v1_0.25_224', 'neuron-lens.json'), { inputRange: [-1, 1] });
  // The tiny model, and a 32 MB copy of it that is slow to load (to cancel a load).
  const testing = JSON.stringify(path.join(root, 'src', 'engine', 'testing.ts'));
  const tiny = JSON.stringify(path.join(ws, 'models', 'tiny'));
  run(process.execPath, ['--require', require.resolve('tsx/cjs'), '-e', `const t = require(${testing}); t.writeTinyModel(${tiny}).then((f) => t.writeLargeModel(${JSON.stringify(path.join(ws, 'models', 'large'))}, f, 32))`], { cwd: root });
  // A model file that does not load: its node shows the error, and nothing else suffers.
  fs.writeFileSync(path.join(ws, 'models', 'broken.onnx'), 'not an ONNX model, just text\n');
  // An atlas of the embedded model's first layer, for "Neuron Lens: Open Atlas…".
  run(process.execPath, [path.join(root, 'bin', 'neuron-lens.js'), 'atlas', '--layer', 'conv1', '--steps', '8', '--out', path.join(ws, 'atlas')], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  fs.writeFileSync(path.join(ws, 'train.py'), [
    'import tensorflow as tf',
    '',
    'model = tf.keras.Sequential([',
    "    tf.keras.layers.Conv2D(8, 3, padding='same', activation='relu', name='conv_a'),",
    "    tf.keras.layers.Conv2D(16, 3, strides=2, padding='same', activation='relu', name='conv_b'),",
    '    tf.keras.layers.GlobalAveragePooling2D(),',
    "    tf.keras.layers.Dense(10, name='logits'),",
    '])',
    "# exported with tensorflowjs_converter to 'models/tiny/model.json'",
    '',
  ].join('\n'));
}

function userSettings(theme) {
  return {
    'workbench.colorTheme': theme,
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'security.workspace.trust.enabled': false,
    'telemetry.telemetryLevel': 'off',
    'update.mode': 'none',
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'editor.codeLens': true,
    'window.commandCenter': false,
    'neuronLens.steps': 16,
    'neuronLens.layerChannels': 4,
    'neuronLens.previewEvery': 4,
    'neuronLens.backend': 'wasm',
  };
}

async function main() {
  fs.mkdirSync(artifacts, { recursive: true });
  for (const f of fs.readdirSync(artifacts)) if (f.startsWith('e2e-')) fs.rmSync(path.join(artifacts, f), { force: true });
  const codeServer = ensureCodeServer();
  say('packaging the extension (both .vsix)');
  run('npm', ['run', '--silent', 'package'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  say('building the extension-host test suite');
  require('esbuild').buildSync({
    entryPoints: [path.join(__dirname, 'suite', 'index.ts')], bundle: true, platform: 'node', target: 'node20', format: 'cjs',
    outfile: path.join(__dirname, 'out', 'suite.js'), external: ['vscode'], logLevel: 'warning',
  });

  const failures = [];
  let browser;
  try {
    const { chromium } = require('playwright-core');
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const ui = require('./ui');
    await withCodeServer(codeServer, path.join(root, 'neuron-lens-linux-x64.vsix'), async (port, dirs, settingsFile) => {
      const ctx = { browser, port, ws: dirs.ws, artifacts, say, settingsFile, userSettings, statusBar: /Neuron Lens: wasm \+ oneDNN, \d+ threads?/ };
      try {
        await ui.runUiTest(ctx);
        say('UI test passed (linux-x64 package)');
      } catch (e) {
        failures.push(`UI test: ${e.stack || e.message}`);
      }
      try {
        const code = await ui.runExtensionHostTests({ ...ctx, extensionPath: root, suite: path.join(__dirname, 'out', 'suite.js') });
        if (code !== 0) failures.push(`extension-host tests exited with code ${code}`);
        else say('extension-host tests passed');
      } catch (e) {
        failures.push(`extension-host tests: ${e.stack || e.message}`);
      }
    });
    await withCodeServer(codeServer, path.join(root, 'neuron-lens.vsix'), async (port, dirs, settingsFile) => {
      try {
        await ui.runBackendCheck({ browser, port, ws: dirs.ws, artifacts, say, settingsFile, statusBar: /^\S* ?Neuron Lens: wasm, \d+ threads?$/ });
        say('status bar check passed (universal package: wasm alone)');
      } catch (e) {
        failures.push(`universal package: ${e.stack || e.message}`);
      }
    });
  } finally {
    if (browser) await browser.close().catch(() => undefined);
  }
  say(`finished; screenshots in ${path.relative(root, artifacts)}/`);
  for (const f of failures) console.error(`FAILED ${f}`);
  process.exit(failures.length ? 1 : 0);
}

/** Installs `vsix` into a fresh code-server (own dirs, HOME, TMPDIR, process group), runs `fn(port, dirs, settingsFile)`, stops it. */
async function withCodeServer(codeServer, vsix, fn) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-e2e-'));
  const dirs = Object.fromEntries(['user', 'ext', 'home', 'tmp', 'ws'].map((k) => [k, path.join(base, k)]));
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  makeWorkspace(dirs.ws);
  const settingsFile = path.join(dirs.user, 'User', 'settings.json');
  writeJson(settingsFile, userSettings('Default Dark Modern'));
  const env = { ...process.env, HOME: dirs.home, TMPDIR: dirs.tmp, XDG_CONFIG_HOME: path.join(dirs.home, '.config'), XDG_DATA_HOME: path.join(dirs.home, '.local', 'share') };
  delete env.NEURON_LENS_NATIVE_ADDON; // the installed package's engine finds its own addon, or none
  const csArgs = ['--user-data-dir', dirs.user, '--extensions-dir', dirs.ext];
  say(`installing ${path.basename(vsix)} into code-server`);
  run(codeServer, [...csArgs, '--install-extension', vsix], { env, stdio: ['ignore', 'ignore', 'inherit'] });

  const port = await freePort();
  const server = spawn(codeServer, [...csArgs, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', '--ignore-last-opened', dirs.ws], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const serverLog = fs.createWriteStream(path.join(artifacts, `e2e-code-server-${path.basename(vsix, '.vsix')}.log`));
  server.stdout.pipe(serverLog);
  server.stderr.pipe(serverLog);
  const killGroup = (sig) => { try { process.kill(-server.pid, sig); } catch { /* already gone */ } };
  const serverExited = new Promise((r) => server.on('exit', r));
  const onExit = () => killGroup('SIGKILL');
  process.on('exit', onExit);
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`, 60000);
    say(`code-server is up on 127.0.0.1:${port}`);
    await fn(port, dirs, settingsFile);
  } finally {
    // Stops code-server and everything it started (its own process group): TERM, then KILL after 5 s.
    killGroup('SIGTERM');
    await Promise.race([serverExited, new Promise((r) => setTimeout(r, 5000))]);
    killGroup('SIGKILL');
    process.off('exit', onExit);
    server.stdout.destroy();
    server.stderr.destroy();
    fs.rmSync(base, { recursive: true, force: true, maxRetries: 3 });
  }
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
