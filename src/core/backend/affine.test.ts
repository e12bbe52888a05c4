import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { type AffineActivation, channelAffine } from './affine';
import { initBackend } from './index';
import { CPU_PATHS, onBackend, randn, relErr, withCpuPath } from './testing_utils';

const t = (shape: number[], seed: number, mul = 1) => tf.tensor(randn(shape.reduce((a, b) => a * b, 1), seed).map((v) => v * mul), shape);

/** TF.js's composition, the reference. */
function composed(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, act: AffineActivation): tf.Tensor {
  const y = tf.add(tf.mul(x, scale), offset);
  return act === 'relu' ? tf.relu(y) : act === 'relu6' ? tf.relu6(y) : y;
}

describe('per-channel affine + activation as one op (affine.ts)', () => {
  before(async () => {
    await initBackend('wasm');
  });

  for (const path of CPU_PATHS) {
    const { backend } = path;
    it(`${path.label}: output and input gradient equal the composition`, () => withCpuPath(path, async () => {
      for (const act of ['linear', 'relu', 'relu6'] as const) {
        const shape = [2, 4, 3, 6];
        const scale = t([6], 2);
        const offset = t([6], 3);
        const w = t(shape, 4);
        const run = (f: typeof channelAffine) => () => {
          const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.sum(tf.mul(f(v, scale, offset, act), w)))(t(shape, 1, 4));
          return [value, grad];
        };
        const before = tf.memory().numTensors;
        const got = await onBackend(backend, run(channelAffine));
        assert.equal(tf.memory().numTensors, before, 'tensors leaked');
        const ref = await onBackend('cpu', run(composed));
        assert.ok(relErr(got[0], ref[0]) < 1e-5, `${act} value: ${relErr(got[0], ref[0])}`);
        assert.ok(relErr(got[1], ref[1]) < 1e-5, `${act} gradient: ${relErr(got[1], ref[1])}`);
        tf.dispose([scale, offset, w]);
      }
    }));
  }
});
