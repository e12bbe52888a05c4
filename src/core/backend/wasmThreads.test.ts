import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import type { WasmThreadsRunOutput } from '../testing/wasmThreadsRun';
import { prepareWasmThreads } from './wasmThreads';

const child = path.join(__dirname, '..', 'testing', 'wasmThreadsRun.ts');

/** Runs the child with n threads; it must exit by itself (pthread workers must not keep Node alive). */
function run(threads: number): WasmThreadsRunOutput {
  const r = spawnSync(process.execPath, ['-r', 'tsx/cjs', child, String(threads)], {
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 64 << 20,
  });
  assert.equal(r.error, undefined, `child (${threads} threads) did not exit on its own: ${r.error}`);
  assert.equal(r.status, 0, `child (${threads} threads) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as WasmThreadsRunOutput;
}

function maxAbsDiff(a: number[], b: number[]): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('wasm threads in Node', function () {
  let one: WasmThreadsRunOutput;
  let two: WasmThreadsRunOutput;

  before(function () {
    one = run(1);
    two = run(2);
  });

  it('runs 1 thread when asked for 1', function () {
    assert.equal(one.threads, 1, one.reason);
  });

  it('runs 2 threads on a machine with at least 2 logical cores', function () {
    if (os.cpus().length < 2) this.skip();
    assert.equal(two.threads, 2, two.reason);
  });

  it('restores URL.createObjectURL and os.cpus after initialization', function () {
    assert.ok(one.hooksRestored && two.hooksRestored);
  });

  for (const op of ['conv', 'convGradInput', 'matmul']) {
    it(`${op}: 2 threads equal 1 thread bitwise, and both match the cpu backend`, function () {
      // XNNPACK splits the output among threads; each element is summed in the same order: bitwise equal.
      const d12 = maxAbsDiff(two.wasm[op], one.wasm[op]);
      assert.equal(d12, 0, `${op}: 2-thread vs 1-thread max |diff| ${d12}`);
      const scale = Math.max(...one.cpu[op].map(Math.abs));
      for (const r of [one, two]) {
        const d = maxAbsDiff(r.wasm[op], r.cpu[op]);
        assert.ok(d <= 1e-5 * scale, `${op}: wasm (${r.threads} threads) vs cpu max |diff| ${d}, scale ${scale}`);
      }
    });
  }

  it('rejects a bad thread count with a clear error', function () {
    assert.throws(() => prepareWasmThreads(0), /thread count must be an integer in 1\.\.8, got 0/);
    assert.throws(() => prepareWasmThreads(2.5), /got 2\.5/);
  });

  it('names the missing files when the wasm-out folder is wrong', function () {
    assert.throws(
      () => prepareWasmThreads(2, { wasmOutDir: '/nonexistent' }),
      /tfjs-backend-wasm-threaded-simd\.js and tfjs-backend-wasm-threaded-simd\.worker\.js not found in: \/nonexistent/,
    );
  });
});
