import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './index';
import { CPU_PATHS, onBackend, randn, relErr, withCpuPath } from './testing_utils';

// The average pool is linear: its gradient must be its adjoint, <pool(x), w> = <x, grad of <pool(x), w>>, with the
// forward of the cpu backend (which divides by the in-bounds count) as the definition.
describe('AvgPoolGrad (avgpool.ts): the adjoint of the forward pool', () => {
  before(async () => {
    await initBackend('wasm');
  });

  const cases: Array<{ x: [number, number, number, number]; k: number; s: number; pad: 'same' | 'valid' }> = [
    { x: [2, 7, 8, 3], k: 3, s: 1, pad: 'same' },
    { x: [1, 9, 9, 4], k: 3, s: 2, pad: 'same' },
    { x: [2, 8, 7, 2], k: 2, s: 2, pad: 'valid' },
    { x: [1, 10, 10, 3], k: 5, s: 3, pad: 'same' },
  ];
  for (const path of CPU_PATHS) {
    const { backend } = path;
    it(path.label, () => withCpuPath(path, async () => {
      for (const [i, c] of cases.entries()) {
        const x = tf.tensor(randn(c.x.reduce((a, b) => a * b, 1), 1 + i), c.x) as tf.Tensor4D;
        const outShape = tf.backend_util.computePool2DInfo(c.x, c.k, c.s, 1, c.pad).outShape;
        const w = tf.tensor(randn(outShape.reduce((a, b) => a * b, 1), 10 + i), outShape);
        const [g] = await onBackend(backend, () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(v as tf.Tensor4D, c.k, c.s, c.pad), w)))(x));
        const [lhs] = await onBackend('cpu', () => tf.sum(tf.mul(tf.avgPool(x, c.k, c.s, c.pad), w)));
        const rhs = Array.from(x.dataSync()).reduce((acc, v, j) => acc + v * g[j], 0);
        assert.ok(Math.abs(lhs[0] - rhs) < 1e-4 * Math.max(1, Math.abs(lhs[0])), `${JSON.stringify(c)}: <pool(x), w> ${lhs[0]} vs <x, grad> ${rhs}`);
        const [gCpu] = await onBackend('cpu', () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(v as tf.Tensor4D, c.k, c.s, c.pad), w)))(x));
        assert.ok(relErr(g, gCpu) < 1e-5, `${JSON.stringify(c)}: ${backend} vs cpu ${relErr(g, gCpu)}`);
        tf.dispose([x, w]);
      }
    }));
  }
});
