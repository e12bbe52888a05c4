import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { onBackend, relErr } from '../../backend/testing_utils';
import { type ConvActivation, convolution, type ConvSpec, type FlippedFilters } from './conv';

type Shape4 = [number, number, number, number];

/** The plain ops the fused convolution replaces; their TF.js autodiff is the reference. */
function plainConv(s: ConvSpec, x: tf.Tensor4D): tf.Tensor4D {
  let y = s.depthwise ? tf.depthwiseConv2d(x, s.kernel, s.strides, s.pad) : tf.conv2d(x, s.kernel, s.strides, s.pad);
  if (s.bias) y = tf.add(y, s.bias);
  if (s.activation === 'relu') y = tf.relu(y);
  if (s.activation === 'relu6') y = tf.relu6(y);
  return y;
}

interface Case { x: Shape4; k: Shape4; strides: [number, number]; pad: 'same' | 'valid'; depthwise: boolean; bias: boolean; act: ConvActivation }

const CASES: Case[] = [
  { x: [2, 9, 7, 3], k: [3, 3, 3, 5], strides: [1, 1], pad: 'same', depthwise: false, bias: true, act: 'relu6' },
  { x: [2, 9, 7, 3], k: [3, 3, 3, 5], strides: [1, 1], pad: 'valid', depthwise: false, bias: false, act: 'relu' },
  { x: [1, 6, 6, 8], k: [1, 1, 8, 4], strides: [1, 1], pad: 'same', depthwise: false, bias: true, act: 'linear' },
  { x: [1, 10, 8, 2], k: [5, 4, 2, 3], strides: [1, 1], pad: 'valid', depthwise: false, bias: true, act: 'relu' },
  { x: [1, 8, 9, 4], k: [2, 2, 4, 6], strides: [1, 1], pad: 'same', depthwise: false, bias: true, act: 'relu6' }, // even, 'same'
  { x: [2, 9, 9, 3], k: [3, 3, 3, 4], strides: [2, 2], pad: 'same', depthwise: false, bias: true, act: 'relu6' },
  { x: [1, 11, 10, 3], k: [3, 3, 3, 4], strides: [2, 1], pad: 'valid', depthwise: false, bias: false, act: 'relu' },
  { x: [2, 9, 7, 6], k: [3, 3, 6, 1], strides: [1, 1], pad: 'same', depthwise: true, bias: true, act: 'relu6' },
  { x: [1, 8, 8, 4], k: [3, 5, 4, 1], strides: [1, 1], pad: 'valid', depthwise: true, bias: false, act: 'linear' },
  { x: [2, 9, 9, 4], k: [3, 3, 4, 1], strides: [2, 2], pad: 'same', depthwise: true, bias: true, act: 'relu' },
  { x: [1, 7, 7, 3], k: [3, 3, 3, 2], strides: [1, 1], pad: 'same', depthwise: true, bias: true, act: 'relu6' }, // multiplier 2
];

/** Output and input gradient (of sum(y * w)) of `f`, on the active backend. */
function outAndGrad(f: (x: tf.Tensor4D) => tf.Tensor4D, x: tf.Tensor4D, w: tf.Tensor): tf.Tensor[] {
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) => tf.sum(tf.mul(f(v as tf.Tensor4D), w)))(x);
  value.dispose();
  return [f(x), grad];
}

describe('fused convolutions with an input-only gradient (layers/conv.ts)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: output and input gradient equal the plain ops' autodiff on cpu`, async () => {
      await initBackend(backend);
      for (const [i, c] of CASES.entries()) {
        const what = `${c.depthwise ? 'depthwise' : 'conv2d'} x ${c.x} k ${c.k} s ${c.strides} ${c.pad} bias ${c.bias} ${c.act}`;
        const kernel = tf.randomUniform(c.k, -1, 1, 'float32', 10 + i) as tf.Tensor4D;
        const outC = c.depthwise ? c.k[2] * c.k[3] : c.k[3];
        const bias = c.bias ? tf.randomUniform([outC], -0.5, 0.5, 'float32', 20 + i) : undefined;
        const spec: ConvSpec = { kernel, bias, strides: c.strides, pad: c.pad, dilations: [1, 1], depthwise: c.depthwise, activation: c.act };
        // Values around 0 and 6 so that relu6 clips on both sides.
        const x = tf.randomUniform(c.x, -2, 4, 'float32', 30 + i) as tf.Tensor4D;
        const yShape = tf.tidy(() => plainConv(spec, x).shape);
        const w = tf.randomUniform(yShape, -1, 1, 'float32', 40 + i);
        const keep: tf.Tensor[] = [];
        const f = convolution(spec, keep, new Map());
        const before = tf.memory().numTensors;
        const got = await onBackend(backend, () => outAndGrad(f, x, w));
        assert.equal(tf.memory().numTensors, before, `${what}: tensors leaked`);
        const ref = await onBackend('cpu', () => outAndGrad((v) => plainConv(spec, v), x, w));
        assert.ok(relErr(got[0], ref[0]) < 1e-5, `${what}: output rel err ${relErr(got[0], ref[0])}`);
        assert.ok(relErr(got[1], ref[1]) < 1e-5, `${what}: input gradient rel err ${relErr(got[1], ref[1])}`);
        tf.dispose([kernel, x, w, ...keep, ...(bias ? [bias] : [])]);
      }
    });
  }

  it('computes no filter or bias gradient', async () => {
    await initBackend('wasm');
    const kernel = tf.randomUniform([3, 3, 4, 8], -1, 1, 'float32', 1) as tf.Tensor4D;
    const bias = tf.zeros([8]);
    const keep: tf.Tensor[] = [];
    const f = convolution({ kernel, bias, strides: [2, 2], pad: 'same', dilations: [1, 1], depthwise: false, activation: 'relu' }, keep, new Map());
    const x = tf.randomUniform([1, 8, 8, 4]);
    const prof = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.sum(f(v as tf.Tensor4D)))(x));
    const names = prof.kernels.map((k) => k.name);
    assert.ok(names.includes('Conv2DBackpropInput'), `kernels: ${names.join(', ')}`);
    assert.ok(!names.some((n) => /BackpropFilter|BiasAddGrad/.test(n)), `kernels: ${names.join(', ')}`);
    tf.dispose([kernel, bias, x, ...keep, prof.result as tf.Tensor]);
  });

  it('keeps one flipped filter per stride-1 kernel (shared between layers), none for strided, dilated or multiplier > 1', () => {
    const keep: tf.Tensor[] = [];
    const flipped: FlippedFilters = new Map();
    const k = tf.zeros([3, 3, 2, 2]) as tf.Tensor4D;
    const even = tf.zeros([2, 2, 2, 2]) as tf.Tensor4D;
    const base: ConvSpec = { kernel: k, strides: [1, 1], pad: 'same', dilations: [1, 1], depthwise: false, activation: 'linear' };
    convolution(base, keep, flipped);
    convolution({ ...base, activation: 'relu6' }, keep, flipped);
    assert.equal(keep.length, 1);
    convolution({ ...base, strides: [2, 2] }, keep, flipped);
    convolution({ ...base, dilations: [2, 2] }, keep, flipped);
    convolution({ ...base, depthwise: true }, keep, flipped); // depthwise multiplier 2 (k is [3, 3, 2, 2])
    assert.equal(keep.length, 1);
    convolution({ ...base, kernel: even }, keep, flipped); // even kernel, 'same': asymmetric padding, still flipped
    assert.equal(keep.length, 2);
    const dw = tf.reshape(k, [3, 3, 4, 1]) as tf.Tensor4D;
    convolution({ ...base, kernel: dw, depthwise: true }, keep, flipped);
    assert.equal(keep.length, 3);
    dw.dispose();
    tf.dispose([k, even, ...keep]);
  });
});
