import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { conv2dWithStoredGrad, depthwiseWithStoredGrad } from './convgrad';

// Reference: TF.js autodiff of the plain conv ops on the cpu backend (its own Conv2DBackpropInput /
// DepthwiseConv2dNativeBackpropInput kernels).
async function compare(ours: (x: tf.Tensor4D) => tf.Tensor4D, ref: (x: tf.Tensor4D) => tf.Tensor4D, xShape: number[], what: string): Promise<void> {
  const x = tf.randomUniform(xShape as [number, number, number, number], -1, 1, 'float32', 3) as tf.Tensor4D;
  const yShape = tf.tidy(() => ref(x).shape);
  const w = tf.randomUniform(yShape, -1, 1, 'float32', 4);
  const loss = (f: (x: tf.Tensor4D) => tf.Tensor4D) => (v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D), w));
  const before = tf.memory().numTensors;
  const [ya, yb, ga, gb] = [ours(x), ref(x), tf.grad(loss(ours))(x), tf.grad(loss(ref))(x)];
  const [a, b, c, d] = await Promise.all([ya.data(), yb.data(), ga.data(), gb.data()]);
  const rel = (p: ArrayLike<number>, q: ArrayLike<number>) => {
    let m = 0; let s = 0;
    for (let i = 0; i < q.length; i++) { m = Math.max(m, Math.abs(p[i] - q[i])); s = Math.max(s, Math.abs(q[i])); }
    return m / s;
  };
  assert.ok(rel(a, b) < 1e-5, `${what}: output rel err ${rel(a, b)}`);
  assert.ok(rel(c, d) < 1e-5, `${what}: input gradient rel err ${rel(c, d)}`);
  tf.dispose([ya, yb, ga, gb]);
  assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
  tf.dispose([x, w]);
}

describe('convolutions with a stored flipped filter for the input gradient (convgrad.ts)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: conv2d and depthwise equal plain autodiff (same/valid, odd and non-square kernels)`, async () => {
      await initBackend(backend);
      const keep: tf.Tensor[] = [];
      const convCases: [number[], number[], 'same' | 'valid'][] = [
        [[2, 9, 7, 3], [3, 3, 3, 5], 'same'],
        [[2, 9, 7, 3], [3, 3, 3, 5], 'valid'],
        [[1, 6, 6, 8], [1, 1, 8, 4], 'same'],
        [[1, 8, 9, 4], [1, 3, 4, 6], 'same'],
        [[1, 10, 8, 2], [5, 4, 2, 3], 'valid'],
      ];
      for (const [xs, ks, pad] of convCases) {
        const k = tf.randomUniform(ks as [number, number, number, number], -1, 1, 'float32', 5) as tf.Tensor4D;
        const f = conv2dWithStoredGrad(k, [1, 1], pad, [1, 1], keep);
        assert.ok(f, `conv ${ks} ${pad} should use the stored gradient`);
        await compare(f, (x) => tf.conv2d(x, k, 1, pad), xs, `conv2d ${ks} ${pad}`);
        k.dispose();
      }
      for (const [xs, ks, pad] of [[[2, 9, 7, 6], [3, 3, 6, 1], 'same'], [[1, 8, 8, 4], [3, 5, 4, 1], 'valid']] as [number[], number[], 'same' | 'valid'][]) {
        const k = tf.randomUniform(ks as [number, number, number, number], -1, 1, 'float32', 6) as tf.Tensor4D;
        const f = depthwiseWithStoredGrad(k, [1, 1], pad, keep);
        assert.ok(f);
        await compare(f, (x) => tf.depthwiseConv2d(x, k, 1, pad), xs, `depthwise ${ks} ${pad}`);
        k.dispose();
      }
      tf.dispose(keep);
    });
  }

  it('declines strided, dilated, even-kernel same and channel-multiplier convolutions', () => {
    const keep: tf.Tensor[] = [];
    const k3 = tf.zeros([3, 3, 2, 2]) as tf.Tensor4D;
    const k2 = tf.zeros([2, 2, 2, 2]) as tf.Tensor4D;
    assert.equal(conv2dWithStoredGrad(k3, [2, 2], 'same', [1, 1], keep), null);
    assert.equal(conv2dWithStoredGrad(k3, [1, 1], 'same', [2, 2], keep), null);
    assert.equal(conv2dWithStoredGrad(k2, [1, 1], 'same', [1, 1], keep), null);
    assert.ok(conv2dWithStoredGrad(k2, [1, 1], 'valid', [1, 1], keep));
    assert.equal(depthwiseWithStoredGrad(k3, [1, 1], 'same', keep), null); // multiplier 2
    tf.dispose([k3, k2, ...keep]);
  });
});
