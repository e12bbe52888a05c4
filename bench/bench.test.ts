// Smoke run of `npm run bench` (2 steps, MobileNet v1, batch 1): the command works end to end, prints parseable
// JSON lines with the documented fields, and the AM loop leaks no tensor. No timing is asserted.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

describe('npm run bench (smoke, 2 steps)', () => {
  it('prints one JSON line per backend with timings, RSS, zero tensor growth and the PyTorch fields', function () {
    this.timeout(900000);
    const r = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'bench/run.ts', '--steps', '2', '--models', 'mobilenet_v1', '--batches', '1', '--json'], {
      cwd: root, encoding: 'utf8', maxBuffer: 1 << 24,
    });
    assert.equal(r.status, 0, `bench exited ${r.status}: ${r.stderr}`);
    const rows = r.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
    assert.ok(rows.length >= 1, `no JSON line in: ${r.stdout}`);
    const wasm = rows.find((x) => x.backend === 'wasm');
    assert.ok(wasm, `no wasm row in ${r.stdout}`);
    for (const row of rows) {
      assert.equal(row.model, 'mobilenet_v1');
      assert.equal(row.batch, 1);
      for (const k of ['msPerStep', 'torchMsPerStep', 'ratio']) assert.ok(k in row, `missing ${k} in ${JSON.stringify(row)}`);
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
