/**
 * Gradient coverage on wasm: tf.grad through each op a conv net or ViT uses, compared with the cpu
 * backend. A missing kernel throws on wasm; a wrong one shows as an error. Prints a table.
 */
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from './index';
import { onBackend, randn, relErr } from './testing_utils';

type Op = (x: tf.Tensor) => tf.Tensor;
const S = [2, 6, 6, 4];

function c(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randn(shape.reduce((a, b) => a * b, 1), seed), shape);
}

function layerNorm(x: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
}

/** Ops whose gradient must work on wasm, and match cpu. */
const OPS: Record<string, Op> = {
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(tf.mul(x, 4)),
  leakyRelu: (x) => tf.leakyRelu(x, 0.1),
  elu: (x) => tf.elu(x),
  prelu: (x) => tf.prelu(x, tf.fill([4], 0.2)),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  softplus: (x) => tf.softplus(x),
  erf: (x) => tf.erf(x),
  'gelu (erf)': (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))),
  'gelu (tanh)': (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(0.7978845608, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))),
  softmax: (x) => tf.softmax(x),
  logSoftmax: (x) => tf.logSoftmax(x),
  'layer norm (moments)': layerNorm,
  'batchNorm (scale, offset)': (x) => tf.batchNorm(x, c([4], 1), tf.abs(c([4], 2)), c([4], 3), c([4], 4), 1e-3),
  'batchNorm (scale = ones)': (x) => tf.batchNorm(x, c([4], 1), tf.abs(c([4], 2)), c([4], 3), tf.ones([4]), 1e-3),
  'resizeBilinear': (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [9, 11]),
  'resizeBilinear alignCorners': (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [4, 5], true),
  'resizeBilinear halfPixelCenters': (x) => tf.image.resizeBilinear(x as tf.Tensor4D, [11, 9], false, true),
  'avgPool same': (x) => tf.avgPool(x as tf.Tensor4D, 3, 2, 'same'),
  'avgPool valid': (x) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid'),
  'maxPool same': (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same'),
  'mean (global pool)': (x) => tf.mean(x, [1, 2]),
  max: (x) => tf.max(x, -1),
  'gather axis 1': (x) => tf.gather(x, tf.tensor1d([0, 2, 2, 5], 'int32'), 1),
  'gather flat (bilinear sampler)': (x) => tf.gather(tf.reshape(x, [-1, 4]), tf.tensor1d([0, 7, 7, 30, 71, 3], 'int32')),
  pad: (x) => tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]]),
  mirrorPad: (x) => tf.mirrorPad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], 'reflect'),
  transpose: (x) => tf.transpose(x, [0, 3, 1, 2]),
  slice: (x) => tf.slice(x, [0, 1, 1, 0], [2, 4, 3, 4]),
  concat: (x) => tf.concat([x, tf.mul(x, 2)], 3),
  split: (x) => tf.split(x, 2, 3)[1],
  tile: (x) => tf.tile(x, [1, 1, 2, 1]),
  'matMul': (x) => tf.matMul(tf.reshape(x, [24, 12]), c([12, 5], 5)),
  'matMul transposeB': (x) => tf.matMul(tf.reshape(x, [24, 12]), c([5, 12], 6), false, true),
  'batched matMul (attention)': (x) => {
    const q = tf.reshape(x, [2, 3, 12, 4]);
    const att = tf.softmax(tf.div(tf.matMul(q, q, false, true), 2));
    return tf.matMul(att, q);
  },
  'fused matMul + bias + gelu-free relu': (x) => tf.fused.matMul({ a: tf.reshape(x, [24, 12]), b: c([12, 5], 7), bias: c([5], 8), activation: 'relu' }),
  'fused conv + bias + relu': (x) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: c([3, 3, 4, 3], 9) as tf.Tensor4D, strides: 1, pad: 'same', bias: c([3], 10), activation: 'relu' }),
  'fused depthwise + bias + relu6': (x) => tf.fused.depthwiseConv2d({ x: x as tf.Tensor4D, filter: c([3, 3, 4, 1], 11) as tf.Tensor4D, strides: 2, pad: 'same', bias: c([4], 12), activation: 'relu6' }),
  'separableConv2d': (x) => tf.separableConv2d(x as tf.Tensor4D, c([3, 3, 4, 2], 13) as tf.Tensor4D, c([1, 1, 8, 3], 14) as tf.Tensor4D, 1, 'same'),
  'conv2dTranspose': (x) => tf.conv2dTranspose(x as tf.Tensor4D, c([3, 3, 2, 4], 15) as tf.Tensor4D, [2, 12, 12, 2], 2, 'same'),
  'sin/cos (Fourier basis)': (x) => tf.add(tf.sin(x), tf.cos(tf.mul(x, 2))),
  'square/sqrt/exp/log': (x) => tf.add(tf.sqrt(tf.add(tf.square(x), 1)), tf.log(tf.add(tf.exp(x), 1))),
  'div/maximum/minimum/clip': (x) => tf.add(tf.div(x, tf.add(tf.abs(x), 1)), tf.clipByValue(tf.maximum(tf.minimum(x, 0.5), -0.5), -0.3, 0.3)),
  'where (select)': (x) => tf.where(tf.greater(c(S, 20), 0), tf.mul(x, 2), tf.mul(x, -3)),
  'stack/unstack': (x) => tf.stack(tf.unstack(x, 3).reverse(), 3),
  reverse: (x) => tf.reverse(x, [1, 2]),
  'cumsum (last axis)': (x) => tf.cumsum(x, 3),
  'localResponseNormalization': (x) => tf.localResponseNormalization(x as tf.Tensor4D, 2, 1, 1e-3, 0.75),
  'euclidean norm': (x) => tf.norm(x, 'euclidean', -1),
  'squaredDifference': (x) => tf.squaredDifference(x, c(S, 17)),
  'broadcastTo / expandDims': (x) => tf.broadcastTo(tf.expandDims(tf.mean(x, 3), 3), S),
  'atan2': (x) => tf.atan2(x, tf.add(tf.abs(c(S, 18)), 0.5)),
};

/** No (working) gradient in TF.js 4.22 on any backend (not a wasm gap): each must throw on cpu too. */
const NO_GRADIENT_ANYWHERE: Record<string, Op> = {
  'conv2d dilation 2': (x) => tf.conv2d(x as tf.Tensor4D, c([3, 3, 4, 2], 16) as tf.Tensor4D, 1, 'same', 'NHWC', 2),
  'cumsum (axis 1: its gradient has the wrong shape)': (x) => tf.cumsum(x, 1),
  stridedSlice: (x) => tf.stridedSlice(x, [0, 1, 1, 0], [2, 5, 5, 4], [1, 2, 2, 1]),
  'depthwiseConv2d dilation 2': (x) => tf.depthwiseConv2d(x as tf.Tensor4D, c([3, 3, 4, 1], 19) as tf.Tensor4D, 1, 'same', 'NHWC', 2),
  'image.transform': (x) => tf.image.transform(x as tf.Tensor4D, tf.tensor2d([[1, 0.1, 0, 0, 1, 0, 0, 0]])),
  cropAndResize: (x) => tf.image.cropAndResize(x as tf.Tensor4D, tf.tensor2d([[0, 0, 1, 1]]), tf.tensor1d([0], 'int32'), [4, 4]),
};

function gradOf(op: Op, seed: number): () => tf.Tensor {
  return () => {
    const x = c(S, seed);
    const probe = (y: tf.Tensor): tf.Scalar => tf.sum(tf.mul(y, c(y.shape, seed + 1)));
    return tf.grad((v) => probe(op(v)))(x);
  };
}

describe('gradient coverage on wasm (tf.grad through each op, vs cpu)', function () {
  before(async () => {
    await initBackend('wasm');
  });
  const rows: string[] = [];
  after(() => console.log(`      ${rows.join('\n      ')}`));

  Object.entries(OPS).forEach(([name, op], i) => {
    it(name, async () => {
      const before = tf.memory().numTensors;
      let got: Float64Array;
      try {
        [got] = await onBackend('wasm', gradOf(op, 300 + 2 * i));
      } catch (e) {
        rows.push(`${name}: FAILS on wasm: ${(e as Error).message.split('\n')[0]}`);
        throw e;
      }
      const [ref] = await onBackend('cpu', gradOf(op, 300 + 2 * i));
      assert.strictEqual(tf.memory().numTensors, before, `${name}: tensors leaked`);
      const err = relErr(got, ref);
      rows.push(`${name}: ${err.toExponential(2)}`);
      assert.ok(err < 1e-4, `${name}: relative error ${err.toExponential(2)}`);
    });
  });

  // The cpu backend's ResizeNearestNeighborGrad is wrong for batch > 1 (and both backends ignore
  // halfPixelCenters in the gradient), so the reference here is the adjoint of the forward op:
  // dx[p] = <dy, resize(e_p)>, all one-hot inputs as one batch.
  it('resizeNearestNeighbor, batch 2 (against the adjoint of the forward op)', async () => {
    const shape = [2, 5, 4, 3];
    const P = shape.reduce((a, b) => a * b);
    const size: [number, number] = [7, 9];
    const dy = c([shape[0], ...size, shape[3]], 600);
    const [got] = await onBackend('wasm', () =>
      tf.grad((v) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(v as tf.Tensor4D, size), dy)))(c(shape, 601)));
    const [ref] = await onBackend('cpu', () => {
      const eye = tf.reshape(tf.eye(P), [P * shape[0], shape[1], shape[2], shape[3]]) as tf.Tensor4D;
      const y = tf.reshape(tf.image.resizeNearestNeighbor(eye, size), [P, -1]);
      return tf.sum(tf.mul(y, tf.reshape(dy, [1, -1])), 1);
    });
    const err = relErr(got, ref);
    rows.push(`resizeNearestNeighbor (vs adjoint): ${err.toExponential(2)}`);
    assert.ok(err < 1e-4, `relative error ${err}`);
  });

  Object.entries(NO_GRADIENT_ANYWHERE).forEach(([name, op], i) => {
    it(`${name} has no gradient on cpu either (a TF.js gap, not a wasm one)`, async () => {
      await assert.rejects(onBackend('cpu', gradOf(op, 500 + i)));
      await assert.rejects(onBackend('wasm', gradOf(op, 500 + i)));
    });
  });
});
