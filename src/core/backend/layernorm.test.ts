import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './index';
import { layerNorm } from './layernorm';
import { CPU_PATHS, onBackend, randn, relErr, withCpuPath } from './testing_utils';

/** TF.js's composition, the reference. */
function composed(x: tf.Tensor, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const centered = tf.sub(x, tf.mean(x, -1, true));
  let y = tf.mul(centered, tf.rsqrt(tf.add(tf.mean(tf.square(centered), -1, true), eps)));
  if (gamma) y = tf.mul(y, gamma);
  if (beta) y = tf.add(y, beta);
  return y;
}

const t = (shape: number[], seed: number, shift = 0) => tf.tensor(randn(shape.reduce((a, b) => a * b, 1), seed).map((v) => v + shift), shape);

describe('layer normalization as one op (layernorm.ts)', () => {
  before(async () => {
    await initBackend('wasm');
  });

  // wasm runs the addon's loops when it is built, the JavaScript loops without; cpu the JavaScript loops.
  for (const path of CPU_PATHS) {
    const { backend } = path;
    it(`${path.label}: output and input gradient equal the composition`, () => withCpuPath(path, async () => {
      for (const [i, withAffine] of [true, false].entries()) {
        const shape = [2, 5, 48];
        const x = () => t(shape, 1 + i, 3); // an offset mean, so that centring matters
        const gamma = withAffine ? t([48], 2) : undefined;
        const beta = withAffine ? t([48], 3) : undefined;
        const w = t(shape, 4);
        const run = (f: typeof layerNorm) => () => {
          const xs = x();
          const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.sum(tf.mul(f(v, 1e-3, gamma, beta), w)))(xs);
          return [value, grad];
        };
        const before = tf.memory().numTensors;
        const got = await onBackend(backend, run(layerNorm));
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        const ref = await onBackend('cpu', run(composed));
        assert.ok(relErr(got[0], ref[0]) < 1e-5, `value: ${relErr(got[0], ref[0])}`);
        assert.ok(relErr(got[1], ref[1]) < 1e-4, `gradient: ${relErr(got[1], ref[1])}`);
        tf.dispose([w, ...(gamma ? [gamma, beta!] : [])]);
      }
    }));
  }
});
