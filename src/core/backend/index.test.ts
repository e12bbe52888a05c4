import * as assert from 'assert';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { BackendName, initBackend, wasmFilesDir } from './index';

function installed(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const repoRoot = path.resolve(__dirname, '..', '..', '..');

describe('initBackend', function () {
  let tensorsBefore = 0;
  before(async () => {
    await tf.setBackend('cpu'); // tf.memory() needs an initialised backend
    tensorsBefore = tf.memory().numTensors;
  });
  after(async () => {
    assert.strictEqual(tf.memory().numTensors, tensorsBefore, 'initBackend leaked tensors');
    await initBackend('wasm');
  });

  it("'cpu' activates the cpu backend and says so", async () => {
    const info = await initBackend('cpu');
    assert.strictEqual(info.name, 'cpu');
    assert.strictEqual(tf.getBackend(), 'cpu');
    assert.match(info.reason, /^cpu: .*JavaScript/);
  });

  it("'wasm' reports SIMD and thread count", async () => {
    const info = await initBackend('wasm');
    assert.strictEqual(info.name, 'wasm');
    assert.strictEqual(tf.getBackend(), 'wasm');
    assert.strictEqual(typeof info.simd, 'boolean');
    assert.ok(Number.isInteger(info.threads) && info.threads! >= 1, `threads ${info.threads}`);
    assert.match(info.reason, /^wasm: .*(SIMD|no SIMD), \d+ threads?\)/);
    console.log(`      ${info.reason}`);
  });

  it("'auto' picks the first backend that starts and explains the skipped ones", async () => {
    const info = await initBackend('auto');
    console.log(`      auto -> ${info.name}: ${info.reason}`);
    assert.strictEqual(tf.getBackend(), info.name);
    const nativePresent = installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu');
    const gpuPresent = installed('webgpu') && installed('@tensorflow/tfjs-backend-webgpu');
    if (!nativePresent && !gpuPresent) {
      assert.strictEqual(info.name, 'wasm');
      assert.match(info.reason, /tensorflow: @tensorflow\/tfjs-node-gpu not installed; @tensorflow\/tfjs-node not installed/);
      assert.match(info.reason, /webgpu: (webgpu|@tensorflow\/tfjs-backend-webgpu) not installed|webgpu: no GPU adapter/);
    } else {
      assert.ok((['tensorflow', 'webgpu', 'wasm'] as BackendName[]).includes(info.name));
    }
  });

  it('is idempotent and re-activates the chosen backend', async () => {
    const a = await initBackend('auto');
    await tf.setBackend('cpu');
    const b = await initBackend('auto');
    assert.deepStrictEqual(b, a);
    assert.strictEqual(tf.getBackend(), a.name);
    const [c, d] = await Promise.all([initBackend('wasm'), initBackend('wasm')]);
    assert.deepStrictEqual(c, d);
  });

  it('an explicit backend that cannot start throws, saying why', async function () {
    if (installed('@tensorflow/tfjs-node') || installed('@tensorflow/tfjs-node-gpu')) this.skip();
    await assert.rejects(initBackend('tensorflow'), /backend 'tensorflow' cannot start: tensorflow: @tensorflow\/tfjs-node-gpu not installed/);
    if (!installed('webgpu')) {
      await assert.rejects(initBackend('webgpu'), /backend 'webgpu' cannot start: webgpu: webgpu not installed/);
    } else {
      await assert.rejects(initBackend('webgpu'), /backend 'webgpu' cannot start: webgpu: /);
    }
  });

  it('an unknown name throws a clear error', async () => {
    await assert.rejects(initBackend('metal' as BackendName), /unknown backend 'metal': expected one of auto, tensorflow, webgpu, wasm, cpu/);
  });
});

describe('wasm files', function () {
  it('wasmFilesDir() holds the three .wasm binaries', () => {
    const dir = wasmFilesDir();
    for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
      assert.ok(fs.existsSync(path.join(dir, f)), `${f} in ${dir}`);
    }
  });

  it('an esbuild bundle with the wasm runtime files beside it (as the build copies them) loads them from there', function () {
    this.timeout(120000);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-backend-'));
    try {
      const entry = path.join(out, 'entry.ts');
      fs.writeFileSync(entry, [
        `import * as tf from '@tensorflow/tfjs-core';`,
        `import { initBackend, wasmFilesDir } from ${JSON.stringify(path.join(__dirname, 'index'))};`,
        `initBackend('wasm').then((info) => {`,
        `  const g = tf.grad((x) => tf.sum(tf.depthwiseConv2d(x as tf.Tensor4D, tf.ones([3, 3, 2, 1]) as tf.Tensor4D, 2, 'same')));`,
        `  const d = g(tf.ones([1, 5, 5, 2])).dataSync();`,
        `  console.log(JSON.stringify({ name: info.name, dir: wasmFilesDir(), sum: d.reduce((a, b) => a + b, 0) }));`,
        `});`,
      ].join('\n'));
      const bundle = path.join(out, 'bundle.js');
      execFileSync(path.join(repoRoot, 'node_modules', '.bin', 'esbuild'), [entry, '--bundle', '--platform=node', `--outfile=${bundle}`, '--log-level=error'], {
        cwd: repoRoot,
        env: { ...process.env, NODE_PATH: path.join(repoRoot, 'node_modules') },
      });
      // What the project's build puts beside its bundles.
      require(path.join(repoRoot, 'esbuild.js')).copyWasm(out);
      // Run from the temp folder so that node_modules cannot be found by resolution.
      const res = JSON.parse(execFileSync(process.execPath, [bundle], { cwd: out, encoding: 'utf8' }).trim().split('\n').pop()!);
      assert.strictEqual(res.name, 'wasm');
      assert.strictEqual(fs.realpathSync(res.dir), fs.realpathSync(out));
      // 5 -> 3 (stride 2, SAME, pad 1 top/left): the windows cover 2 + 3 + 2 = 7 input rows (and
      // columns) counting repeats, so the all-ones filter sends 7 * 7 per channel.
      assert.strictEqual(res.sum, 7 * 7 * 2);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
