// Smoke run of `npm run bench -- --editor` (2 steps, 1 repeat): it packages both .vsix, runs the step in-process and
// through the engine child process of each unpacked package, and says which backend each used. No timing is asserted.
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');

describe('npm run bench -- --editor (smoke, 2 steps)', () => {
  it('times the CLI path and the engine of both packages; the linux-x64 one runs the native kernels, the universal one wasm alone', function () {
    if (!fs.existsSync('/usr/include/oneapi/dnnl/dnnl.hpp') && process.env.NEURON_LENS_REQUIRE_NATIVE !== '1') this.skip(); // the linux-x64 package needs libdnnl-dev
    this.timeout(900000);
    const r = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'bench/run.ts', '--editor', '--steps', '2', '--repeats', '1', '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.equal(r.status, 0, `bench exited ${r.status}: ${r.stderr}`);
    const rows = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((x) => x.name), ['cli', 'cli portable', 'editor universal (before)', 'editor linux-x64 (after)']);
    for (const row of rows) assert.ok(row.msPerStep > 0 && row.cpuMsPerStep > 0 && Number.isFinite(row.vsCli) && Number.isFinite(row.cpuVsCli), JSON.stringify(row));
    assert.equal(rows[2].backend, 'wasm');
    assert.match(rows[3].backend, /^wasm \+ oneDNN \d/);
    assert.match(rows[1].backend, /^wasm \+ oneDNN \d/);
  });
});
