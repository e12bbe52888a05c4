import * as assert from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { addonCandidates, addonVariant, checkAddon } from './onednn';

// How the addon is found, checked and refused. Each case loads it in a fresh process (the addon loads once per
// process), through initBackend('wasm') as the engine does, and reads the backend's reason.

const root = path.join(__dirname, '..', '..', '..');
const portable = path.join(root, 'native', 'build', 'portable', 'onednn.node');

function backendIn(env: NodeJS.ProcessEnv): { name: string; reason: string; native?: string; spin?: string } {
  const code = `require(${JSON.stringify(path.join(__dirname, 'index.ts'))}).initBackend('wasm').then((b) => console.log(JSON.stringify({ ...b, spin: process.env.GOMP_SPINCOUNT })))`;
  const base: NodeJS.ProcessEnv = { ...process.env, NEURON_LENS_NATIVE: '', NEURON_LENS_NATIVE_ADDON: '', NEURON_LENS_WASM_THREADS: '1' };
  delete base.GOMP_SPINCOUNT;
  delete base.OMP_WAIT_POLICY;
  const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', '-e', code], { cwd: root, encoding: 'utf8', timeout: 120000, env: { ...base, ...env } });
  assert.strictEqual(r.status, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** A stand-in addon (a JavaScript module: NEURON_LENS_NATIVE_ADDON may name one) with the given fields. */
function fakeAddon(dir: string, body: string): string {
  const f = path.join(dir, `fake-${Math.random().toString(36).slice(2)}.js`);
  fs.writeFileSync(f, body);
  return f;
}

describe('oneDNN addon: finding, checking and refusing it', function () {
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-addon-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('looks in native/build, then native/build/portable (repository and dist/ layouts); the env variable alone when set', () => {
    const here = path.join('/x', 'src', 'core', 'backend');
    assert.deepStrictEqual(addonCandidates({}, here), [
      '/x/native/build/onednn.node', '/x/native/build/portable/onednn.node',
      '/x/src/core/native/build/onednn.node', '/x/src/core/native/build/portable/onednn.node',
    ]);
    assert.deepStrictEqual(addonCandidates({}, '/ext/dist').slice(2), ['/ext/native/build/onednn.node', '/ext/native/build/portable/onednn.node']);
    assert.deepStrictEqual(addonCandidates({ NEURON_LENS_NATIVE_ADDON: '/a/b.node' }, here), ['/a/b.node']);
  });

  it('picks the portable build\'s x86-64-v3 copy only on a CPU with every one of its instruction sets', () => {
    const dir = path.join(tmp, 'portable');
    fs.mkdirSync(dir);
    const base = path.join(dir, 'onednn.node');
    fs.writeFileSync(base, '');
    const v3 = new Set(['sse4_2', 'avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave', 'avx512f']);
    assert.strictEqual(addonVariant(base, v3), base, 'no v3 copy beside it');
    fs.writeFileSync(path.join(dir, 'onednn-x86-64-v3.node'), '');
    assert.strictEqual(addonVariant(base, v3), path.join(dir, 'onednn-x86-64-v3.node'));
    assert.strictEqual(addonVariant(base, new Set([...v3].filter((f) => f !== 'fma'))), base, 'a CPU without FMA');
    assert.strictEqual(addonVariant(base, new Set()), base, 'no /proc/cpuinfo');
  });

  it('checkAddon passes a right addon and names what a wrong one computed', () => {
    const right = {
      conv: (x: Float32Array, w: Float32Array, b: Float32Array | null, y: Float32Array) => x.forEach((v, i) => { y[i] = v * w[0] + b![0]; }),
      matmul: (a: Float32Array, b: Float32Array, _bias: Float32Array | null, c: Float32Array) => { c[0] = a[0] * b[0] + a[1] * b[1]; },
    };
    checkAddon(right);
    assert.throws(() => checkAddon({ ...right, matmul: (_a, _b, _c, c) => { c[0] = 0; } }), /self-check: \[2.5, 4.5, 6.5, 8.5, 0\] instead of/);
  });

  it('refuses an addon built for instruction sets this CPU lacks, and says which', () => {
    const f = fakeAddon(tmp, "module.exports = { version: 'oneDNN 9', abi: 5, cpuMissing: 'avx512f avx512bw', conv() {}, matmul() {} };");
    const b = backendIn({ NEURON_LENS_NATIVE_ADDON: f });
    assert.strictEqual(b.native, undefined);
    assert.match(b.reason, /native kernels built for another CPU \(.* uses avx512f avx512bw, which this CPU lacks\)/);
  });

  it('refuses an addon whose kernels fail on this CPU, with oneDNN\'s message', () => {
    const f = fakeAddon(tmp, "module.exports = { version: 'oneDNN 9', abi: 5, cpuMissing: '', conv() { throw new Error('oneDNN convolution: could not create a primitive'); }, matmul() {} };");
    const b = backendIn({ NEURON_LENS_NATIVE_ADDON: f });
    assert.strictEqual(b.native, undefined);
    assert.match(b.reason, /native kernels do not run on this CPU \(.*\): oneDNN convolution: could not create a primitive/);
  });

  it('refuses a stale addon and one that does not load (not a library for this machine)', () => {
    const stale = fakeAddon(tmp, "module.exports = { version: 'oneDNN 9', abi: 4 };");
    assert.match(backendIn({ NEURON_LENS_NATIVE_ADDON: stale }).reason, /native kernels out of date \(.* is interface 4, this build needs 5\)/);
    const foreign = path.join(tmp, 'onednn.node');
    fs.writeFileSync(foreign, Buffer.from('MZ\x90\x00 not an ELF shared object'));
    assert.match(backendIn({ NEURON_LENS_NATIVE_ADDON: foreign }).reason, /native kernels failed to load \(.*onednn\.node\): .*(invalid ELF header|too short)/);
    assert.match(backendIn({ NEURON_LENS_NATIVE_ADDON: path.join(tmp, 'none.node') }).reason, /NEURON_LENS_NATIVE_ADDON=.*none\.node does not exist/);
  });

  it('serves the engine from the portable build (npm run build:native -- --portable)', function () {
    if (!fs.existsSync(portable)) {
      if (process.env.NEURON_LENS_REQUIRE_NATIVE === '1') assert.fail(`${portable} is not built`);
      this.skip();
    }
    const b = backendIn({ NEURON_LENS_NATIVE_ADDON: portable });
    assert.match(b.native ?? '', /^oneDNN \d/);
    assert.match(b.reason, /native kernels, portable( x86-64-v3)? build/);
    const flags = fs.readFileSync('/proc/cpuinfo', 'utf8');
    if (/ avx2 /.test(flags) && / fma /.test(flags) && / bmi2 /.test(flags) && / movbe /.test(flags)) assert.match(b.reason, /portable x86-64-v3 build/);
    // OpenMP's threads spin briefly, not 300,000 times, before they sleep; a user's own setting is kept.
    assert.strictEqual(b.spin, '1000');
    assert.strictEqual(backendIn({ NEURON_LENS_NATIVE_ADDON: portable, GOMP_SPINCOUNT: '5' }).spin, '5');
    assert.strictEqual(backendIn({ NEURON_LENS_NATIVE_ADDON: portable, OMP_WAIT_POLICY: 'active' }).spin, undefined);
  });
});
