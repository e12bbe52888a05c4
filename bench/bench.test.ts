// Smoke run of `npm run bench` (2 steps, MobileNet v1, batch 1, Keras and ONNX): the command works end to end,
// prints parseable JSON lines with the documented fields, and the AM loop leaks no tensor. No timing is asserted.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const oneDnnBuilt = () => fs.existsSync(path.join(root, 'native', 'build', 'onednn.node')) && process.env.NEURON_LENS_NATIVE !== '0';

describe('npm run bench (smoke, 2 steps)', () => {
  it('prints one JSON line per backend (wasm with and without the native kernels) and format with timings, RSS, zero tensor growth and the PyTorch fields', function () {
    this.timeout(900000);
    const r = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'bench/run.ts', '--steps', '2', '--models', 'mobilenet_v1', '--batches', '1', '--backends', 'wasm,wasm-js', '--formats', 'keras,onnx', '--json'], {
      cwd: root, encoding: 'utf8', maxBuffer: 1 << 24,
    });
    assert.equal(r.status, 0, `bench exited ${r.status}: ${r.stderr}`);
    const rows = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    assert.ok(rows.length >= 1, `no JSON line in: ${r.stdout}`);
    // wasm (with the native kernels when built: wasm+onednn) and wasm-js (never with them).
    const backends = [oneDnnBuilt() ? 'wasm+onednn' : 'wasm', 'wasm'].sort();
    assert.deepEqual(rows.filter((x) => x.format === 'keras').map((x) => x.backend).sort(), backends, r.stdout);
    const onnx = rows.filter((x) => x.format === 'onnx');
    assert.equal(onnx.length, 2, r.stdout);
    if (onnx.every((x) => !x.error)) assert.deepEqual(onnx.map((x) => x.backend).sort(), backends, r.stdout);
    for (const row of rows) {
      assert.equal(row.model, 'mobilenet_v1');
      assert.equal(row.batch, 1);
      for (const k of ['msPerStep', 'torchMsPerStep', 'ratio']) assert.ok(k in row, `missing ${k} in ${JSON.stringify(row)}`);
      // Without PyTorch the onnx rows say why they were skipped (the model is exported from PyTorch).
      if (row.format === 'onnx' && row.error?.startsWith('skipped: PyTorch not available')) continue;
      assert.equal(row.error, undefined, `case failed: ${row.error}`);
      assert.ok(row.msPerStep > 0 && Number.isFinite(row.msPerStep));
      assert.ok(row.peakRssMB > 0);
      assert.equal(row.tensorGrowth, 0, 'tensors leaked across AM steps');
      // The ratio is ours / PyTorch whenever the peer ran.
      if (row.torchMsPerStep !== null) assert.ok(Math.abs(row.ratio - row.msPerStep / row.torchMsPerStep) < 1e-9);
      else assert.equal(row.ratio, null);
    }
  });
});
