import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { ACT_GRAD, GELU, GELU_GRAD, SOFTMAX_GRAD } from './actgrad';
import { initBackend } from './index';
import { oneDnnInfo, oneDnnNote, setOneDnnKernels } from './onednn';
import { onBackend, randn, relErr } from './testing_utils';

// The oneDNN kernels against the cpu backend, kernel by kernel. Without the addon (not built here) the suite is
// skipped, unless NEURON_LENS_REQUIRE_NATIVE=1 (CI builds it) makes that a failure.

const TOL = 1e-5;
type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];

function t(shape: number[], seed: number, shift = 0): tf.Tensor {
  const v = randn(shape.reduce((a, b) => a * b, 1), seed);
  if (shift) for (let i = 0; i < v.length; i++) v[i] += shift;
  return tf.tensor(v, shape);
}

/** Runs `fn` (with the native kernels on) on wasm and on cpu; asserts agreement and no leaks. */
async function compare(label: string, fn: () => tf.Tensor): Promise<void> {
  const wasm = tf.findBackend('wasm')!;
  await onBackend('wasm', fn); // first call creates the primitive; second reuses it and the kept weights
  const buffers = wasm.numDataIds();
  const got = await onBackend('wasm', fn);
  assert.strictEqual(wasm.numDataIds(), buffers, `${label}: wasm buffers leaked`);
  const ref = await onBackend('cpu', fn);
  const err = relErr(got[0], ref[0]);
  assert.ok(err < TOL, `${label}: relative error ${err.toExponential(2)} >= ${TOL}`);
}

function kernel(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>): tf.Tensor {
  return tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

const explicitPad: Pad = [[0, 0], [1, 2], [0, 1], [0, 0]];

describe('oneDNN native kernels vs the cpu backend', function () {
  before(async function () {
    await initBackend('wasm');
    if (!setOneDnnKernels(true)) {
      if (process.env.NEURON_LENS_REQUIRE_NATIVE === '1') throw new Error(`NEURON_LENS_REQUIRE_NATIVE=1 but ${oneDnnNote()}`);
      this.skip();
    }
  });

  const convCases: Array<{ x: Shape4; f: Shape4; s: number | [number, number]; d?: number; pad: Pad }> = [
    { x: [1, 7, 8, 3], f: [3, 3, 3, 5], s: 1, pad: 'same' },
    { x: [2, 9, 9, 4], f: [3, 3, 4, 6], s: 2, pad: 'same' },
    { x: [2, 9, 9, 4], f: [3, 3, 4, 6], s: 2, pad: 'valid' },
    { x: [1, 8, 9, 3], f: [2, 3, 3, 2], s: [2, 1], pad: 'same' },
    { x: [2, 7, 7, 2], f: [3, 3, 2, 3], s: 2, pad: explicitPad },
    { x: [1, 10, 10, 3], f: [3, 3, 3, 4], s: 1, d: 2, pad: 'same' },
    { x: [3, 5, 5, 16], f: [1, 1, 16, 8], s: 1, pad: 'valid' },
    { x: [1, 11, 11, 3], f: [7, 7, 3, 8], s: 2, pad: 'same' },
  ];

  describe('Conv2D, FusedConv2D, Conv2DBackpropInput', () => {
    convCases.forEach((c, i) => {
      it(`x ${c.x} filter ${c.f} stride ${c.s} dilation ${c.d ?? 1} pad ${JSON.stringify(c.pad)}`, async () => {
        const base = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dilations: c.d ?? 1 };
        await compare('Conv2D', () => kernel('Conv2D', { x: t(c.x, i), filter: t(c.f, 50 + i) }, base));
        for (const activation of ['linear', 'relu', 'relu6']) {
          await compare(`FusedConv2D ${activation}`, () =>
            kernel('FusedConv2D', { x: t(c.x, i, 1), filter: t(c.f, 50 + i), bias: t([c.f[3]], 70 + i) }, { ...base, activation }));
        }
        if ((c.d ?? 1) === 1) {
          const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad);
          await compare('Conv2DBackpropInput', () =>
            kernel('Conv2DBackpropInput', { dy: t(info.outShape, 90 + i), filter: t(c.f, 50 + i) }, { ...base, inputShape: c.x }));
        }
      });
    });
  });

  describe('DepthwiseConv2dNative, FusedDepthwiseConv2D, DepthwiseConv2dNativeBackpropInput', () => {
    const cases: Array<{ x: Shape4; f: Shape4; s: number; pad: Pad }> = [
      { x: [1, 7, 8, 3], f: [3, 3, 3, 1], s: 1, pad: 'same' },
      { x: [2, 9, 9, 4], f: [3, 3, 4, 1], s: 2, pad: 'same' },
      { x: [2, 8, 8, 2], f: [3, 3, 2, 3], s: 2, pad: 'valid' },
      { x: [1, 9, 7, 2], f: [5, 5, 2, 2], s: 1, pad: explicitPad },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
        const base = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
        await compare('DepthwiseConv2dNative', () => kernel('DepthwiseConv2dNative', { x: t(c.x, i), filter: t(c.f, 20 + i) }, base));
        await compare('FusedDepthwiseConv2D relu6', () =>
          kernel('FusedDepthwiseConv2D', { x: t(c.x, i, 2), filter: t(c.f, 20 + i), bias: t([c.f[2] * c.f[3]], 30 + i) }, { ...base, activation: 'relu6' }));
        const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad, undefined, true);
        await compare('DepthwiseConv2dNativeBackpropInput', () =>
          kernel('DepthwiseConv2dNativeBackpropInput', { dy: t(info.outShape, 40 + i), filter: t(c.f, 20 + i) }, { ...base, inputShape: c.x }));
      });
    });
  });

  describe('BatchMatMul, _FusedMatMul', () => {
    const cases: Array<{ a: number[]; b: number[]; ta: boolean; tb: boolean }> = [
      { a: [5, 7], b: [7, 3], ta: false, tb: false },
      { a: [7, 5], b: [7, 3], ta: true, tb: false },
      { a: [5, 7], b: [3, 7], ta: false, tb: true },
      { a: [7, 5], b: [3, 7], ta: true, tb: true },
      { a: [4, 5, 7], b: [4, 7, 3], ta: false, tb: false },
      { a: [2, 2, 5, 7], b: [7, 3], ta: false, tb: false }, // b broadcast
      { a: [5, 7], b: [3, 7, 6], ta: false, tb: false }, // a broadcast
    ];
    cases.forEach((c, i) => {
      it(`a ${c.a}${c.ta ? 'ᵀ' : ''} x b ${c.b}${c.tb ? 'ᵀ' : ''}`, async () => {
        await compare('BatchMatMul', () => tf.matMul(t(c.a, i), t(c.b, 10 + i), c.ta, c.tb));
        const n = c.tb ? c.b[c.b.length - 2] : c.b[c.b.length - 1];
        await compare('_FusedMatMul relu', () => kernel('_FusedMatMul', { a: t(c.a, i), b: t(c.b, 10 + i), bias: t([n], 20 + i) },
          { transposeA: c.ta, transposeB: c.tb, activation: 'relu' }));
      });
    });

    it('falls back to wasm for what oneDNN is not given (prelu, mixed batch broadcast)', async () => {
      await compare('_FusedMatMul prelu', () => kernel('_FusedMatMul', { a: t([1, 4, 6], 1), b: t([1, 6, 5], 2), preluActivationWeights: t([5], 3) },
        { transposeA: false, transposeB: false, activation: 'prelu' }));
      await compare('BatchMatMul [2,1] x [1,3]', () => tf.matMul(t([2, 1, 4, 5], 4), t([1, 3, 5, 2], 5)));
    });
  });

  describe('MaxPoolGrad', () => {
    const cases: Array<{ x: Shape4; k: number; s: number; pad: 'same' | 'valid' }> = [
      { x: [1, 9, 9, 3], k: 3, s: 2, pad: 'same' },
      { x: [2, 8, 7, 4], k: 3, s: 2, pad: 'valid' },
      { x: [1, 8, 8, 2], k: 1, s: 2, pad: 'same' },
      { x: [1, 6, 6, 3], k: 2, s: 2, pad: 'valid' },
      { x: [2, 7, 7, 5], k: 3, s: 1, pad: 'same' },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} window ${c.k} stride ${c.s} ${c.pad}`, async () => {
        // Through the op's gradient, as the engine uses it (MaxPool forward, then MaxPoolGrad).
        await compare('MaxPoolGrad', () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(v as tf.Tensor4D, c.k, c.s, c.pad), t(tf.backend_util.computePool2DInfo(c.x, c.k, c.s, 1, c.pad).outShape, 60 + i))))(t(c.x, i)));
      });
    });
  });

  it('Transpose of ranks 2 to 6 equals the cpu backend', async () => {
    const cases: Array<[number[], number[]]> = [
      [[5, 7], [1, 0]], [[2, 3, 4], [2, 0, 1]], [[2, 3, 4, 5], [0, 2, 1, 3]], [[2, 3, 4, 5], [3, 2, 1, 0]],
      [[2, 5, 3, 4, 6], [2, 0, 3, 1, 4]], [[3, 2, 4, 2, 5], [0, 2, 1, 3, 4]], [[2, 1, 3, 2, 2, 3], [5, 3, 1, 0, 2, 4]],
    ];
    for (const [i, [shape, perm]] of cases.entries()) await compare(`Transpose ${shape} ${perm}`, () => tf.transpose(t(shape, i), perm));
    await compare('Transpose int32 (wasm\'s own)', () => tf.cast(tf.transpose(tf.cast(tf.mul(t([2, 3, 4], 9), 10), 'int32'), [1, 2, 0]), 'float32'));
  });

  /** `ours` on wasm against `ref` (plain TF.js ops) on cpu. */
  async function against(label: string, ours: () => tf.Tensor, ref: () => tf.Tensor): Promise<void> {
    const got = await onBackend('wasm', ours);
    const want = await onBackend('cpu', ref);
    const err = relErr(got[0], want[0]);
    assert.ok(err < TOL, `${label}: relative error ${err.toExponential(2)} >= ${TOL}`);
  }

  it('Softmax and its gradient (native loops) equal plain TF.js ops', async () => {
    for (const shape of [[3, 7], [2, 5, 197]]) {
      await compare('Softmax', () => tf.softmax(tf.mul(t(shape, 1), 3)));
      const dy = () => t(shape, 2);
      const y = () => tf.softmax(t(shape, 3));
      await against(SOFTMAX_GRAD, () => kernel(SOFTMAX_GRAD, { dy: dy(), y: y() }, {}), () => {
        const dyTimesY = tf.mul(dy(), y());
        return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, -1, true), y()));
      });
    }
  });

  it(`${GELU} and ${GELU_GRAD} equal TF.js's erf composition and its autodiff`, async () => {
    const x = () => tf.mul(t([3, 7, 40], 1), 2);
    const w = () => t([3, 7, 40], 2);
    const composed = (v: tf.Tensor) => tf.mul(tf.mul(v, 0.5), tf.add(tf.erf(tf.mul(v, Math.SQRT1_2)), 1));
    await against(GELU, () => kernel(GELU, { x: x() }, {}), () => composed(x()));
    await against(GELU_GRAD, () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(kernel(GELU, { x: v }, {}), w())))(x()),
      () => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(composed(v), w())))(x()));
  });

  it(`${ACT_GRAD} (native loop) equals plain TF.js ops`, async () => {
    const dy = () => t([2, 5, 5, 3], 1);
    const y = (act: string) => (act === 'relu' ? tf.relu(tf.mul(t([2, 5, 5, 3], 2), 4)) : tf.relu6(tf.mul(t([2, 5, 5, 3], 2, 0.75), 4)));
    await against(`${ACT_GRAD} relu`, () => kernel(ACT_GRAD, { dy: dy(), y: y('relu') }, { act: 'relu' }), () => tf.mul(dy(), tf.step(y('relu'))));
    await against(`${ACT_GRAD} relu6`, () => kernel(ACT_GRAD, { dy: dy(), y: y('relu6') }, { act: 'relu6' }),
      () => tf.mul(dy(), tf.mul(tf.step(y('relu6')), tf.step(tf.sub(6, y('relu6'))))));
  });

  it('keeps reordered weights per filter tensor: a new filter of the same shape is not served stale weights', async () => {
    const x = t([1, 8, 8, 16], 1);
    const f1 = t([3, 3, 16, 32], 2);
    const f2 = t([3, 3, 16, 32], 3);
    const run = (f: tf.Tensor) => onBackend('wasm', () => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'));
    await run(f1);
    await run(f1); // second use of f1: its reordered weights are kept from here on
    const kept = oneDnnInfo()!.keptWeights;
    assert.ok(kept >= 1, 'a filter used twice is kept');
    const a = await run(f2);
    const b = await run(f2);
    const ref = await onBackend('cpu', () => tf.conv2d(x as tf.Tensor4D, f2 as tf.Tensor4D, 1, 'same'));
    assert.ok(relErr(a[0], ref[0]) < TOL && relErr(b[0], ref[0]) < TOL, 'f2 computed with its own weights');
    const f1again = await run(f1);
    const ref1 = await onBackend('cpu', () => tf.conv2d(x as tf.Tensor4D, f1 as tf.Tensor4D, 1, 'same'));
    assert.ok(relErr(f1again[0], ref1[0]) < TOL, 'f1 still right');
    tf.dispose([x, f1, f2]);
  });

  it('keeps reordered matmul weights per tensor too: a new b of the same shape is not served stale weights', async () => {
    const a = t([6, 64], 1);
    const b1 = t([64, 48], 2);
    const b2 = t([64, 48], 3);
    for (const b of [b1, b1, b1, b2, b2, b1]) {
      const got = await onBackend('wasm', () => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D));
      const ref = await onBackend('cpu', () => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D));
      assert.ok(relErr(got[0], ref[0]) < TOL, `matmul with ${b === b1 ? 'b1' : 'b2'}`);
    }
    tf.dispose([a, b1, b2]);
  });

  it('can be turned off and on again (the replaced wasm kernels come back)', async () => {
    const fn = () => tf.conv2d(t([1, 6, 6, 3], 1) as tf.Tensor4D, t([3, 3, 3, 4], 2) as tf.Tensor4D, 1, 'same');
    const on = await onBackend('wasm', fn);
    assert.strictEqual(setOneDnnKernels(false), false);
    const off = await onBackend('wasm', fn);
    assert.strictEqual(setOneDnnKernels(true), true);
    assert.ok(relErr(on[0], off[0]) < TOL);
  });
});
