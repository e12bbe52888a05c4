import * as assert from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { fixture } from '../testing/fixtures';
import { initBackend } from './index';
import { onBackend, randn, relErr } from './testing_utils';

const TOL = 1e-4;
type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
type Shape4 = [number, number, number, number];

const worst: Record<string, number> = {};
function record(kernel: string, err: number): void {
  worst[kernel] = Math.max(worst[kernel] ?? 0, err);
}

/** Buffers held by the wasm backend (kernel intermediates are not Tensors, so count them too). */
function wasmBuffers(): number {
  return tf.findBackend('wasm')!.numDataIds();
}

function t4(shape: number[], seed: number, shift = 0): tf.Tensor4D {
  const v = randn(shape.reduce((a, b) => a * b, 1), seed);
  if (shift) for (let i = 0; i < v.length; i++) v[i] += shift;
  return tf.tensor4d(v, shape as Shape4);
}

/** Runs `fn` on wasm and cpu; asserts relative error < TOL and no leaked tensors or wasm buffers. */
async function compare(kernel: string, label: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const tensorsBefore = tf.memory().numTensors;
  await onBackend('wasm', fn); // warm-up (first use creates XNNPACK operators and caches)
  const buffersBefore = wasmBuffers();
  const got = await onBackend('wasm', fn);
  assert.strictEqual(wasmBuffers(), buffersBefore, `${kernel} ${label}: wasm buffers leaked`);
  const ref = await onBackend('cpu', fn);
  assert.strictEqual(tf.memory().numTensors, tensorsBefore, `${kernel} ${label}: tensors leaked`);
  let err = 0;
  got.forEach((g, i) => {
    err = Math.max(err, relErr(g, ref[i]));
  });
  record(kernel, err);
  assert.ok(err < TOL, `${kernel} ${label}: relative error ${err.toExponential(2)} >= ${TOL}`);
  return err;
}

const explicitPad: Pad = [[0, 0], [1, 2], [0, 1], [0, 0]];

describe('wasm gradient kernels vs the cpu backend', function () {
  before(async () => {
    await initBackend('wasm');
  });
  after(() => {
    const rows = Object.entries(worst).map(([k, e]) => `${k}: ${e.toExponential(2)}`);
    console.log(`      worst relative errors: ${rows.join(', ')}`);
  });

  describe('DepthwiseConv2dNativeBackpropInput', () => {
    const cases: Array<{ x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad }> = [
      { x: [1, 7, 8, 3], f: [3, 3, 3, 1], s: 1, pad: 'same' },
      { x: [2, 7, 8, 3], f: [3, 3, 3, 1], s: 2, pad: 'same' },
      { x: [2, 8, 8, 2], f: [3, 3, 2, 2], s: 2, pad: 'same' },
      { x: [1, 9, 7, 2], f: [3, 3, 2, 3], s: 1, pad: 'valid' },
      { x: [2, 9, 9, 2], f: [5, 5, 2, 2], s: 2, pad: 'valid' },
      { x: [1, 8, 9, 3], f: [2, 3, 3, 2], s: [2, 1], pad: 'same' },
      { x: [2, 7, 7, 2], f: [3, 3, 2, 2], s: 2, pad: explicitPad },
      { x: [1, 6, 6, 4], f: [1, 1, 4, 1], s: 2, pad: 'valid' },
      { x: [1, 10, 10, 2], f: [3, 3, 2, 1], s: 3, pad: 'same' },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
        const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad, undefined, true);
        await compare('DepthwiseConv2dNativeBackpropInput', String(i), () =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: t4(info.outShape, 10 + i), filter: t4(c.f, 20 + i) },
            { strides: c.s, dilations: 1, pad: c.pad, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor);
      });
    });

    it('dilation 2 (against the adjoint of the cpu forward conv)', async () => {
      const x: Shape4 = [1, 7, 6, 2];
      const f: Shape4 = [3, 3, 2, 2];
      for (const pad of ['same', 'valid'] as const) {
        const info = tf.backend_util.computeConv2DInfo(x, f, 1, 2, pad, undefined, true);
        const dyVals = randn(info.outShape.reduce((a, b) => a * b), 31);
        const fVals = randn(f.reduce((a, b) => a * b), 32);
        const [got] = await onBackend('wasm', () =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: tf.tensor(dyVals, info.outShape), filter: tf.tensor(fVals, f) },
            { strides: 1, dilations: 2, pad, inputShape: x } as unknown as tf.NamedAttrMap) as tf.Tensor);
        // dx[p] = <dy, conv(e_p)>: all one-hot inputs as one batch through the cpu forward kernel.
        const P = x.reduce((a, b) => a * b);
        const [ref] = await onBackend('cpu', () => {
          const eye = tf.reshape(tf.eye(P), [P, x[1], x[2], x[3]]) as tf.Tensor4D;
          const y = tf.depthwiseConv2d(eye, tf.tensor(fVals, f) as tf.Tensor4D, 1, pad, 'NHWC', 2);
          return tf.sum(tf.mul(y, tf.tensor(dyVals, info.outShape)), [1, 2, 3]);
        });
        const err = relErr(got, ref);
        record('DepthwiseConv2dNativeBackpropInput', err);
        assert.ok(err < TOL, `dilation 2 pad ${pad}: ${err}`);
      }
    });
  });

  describe('Conv2DBackpropInput', () => {
    const cases: Array<{ x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad }> = [
      { x: [1, 7, 8, 5], f: [3, 3, 5, 4], s: 1, pad: 'same' },
      { x: [2, 6, 6, 3], f: [1, 1, 3, 6], s: 1, pad: 'valid' },
      { x: [2, 9, 9, 16], f: [3, 3, 16, 8], s: 2, pad: 'same' },
      { x: [1, 10, 9, 17], f: [3, 2, 17, 5], s: [2, 1], pad: 'valid' },
      { x: [2, 8, 8, 16], f: [3, 3, 16, 4], s: 2, pad: explicitPad },
      { x: [1, 8, 8, 4], f: [3, 3, 4, 6], s: 2, pad: 'same' },
      { x: [1, 9, 9, 3], f: [5, 5, 3, 2], s: 1, pad: explicitPad },
      { x: [1, 11, 11, 16], f: [7, 7, 16, 3], s: 3, pad: 'same' },
      { x: [2, 9, 9, 16], f: [1, 1, 16, 8], s: 2, pad: 'valid' }, // phases with no filter tap
      { x: [1, 10, 11, 16], f: [3, 3, 16, 4], s: 4, pad: 'valid' }, // rows no window reaches
      { x: [1, 8, 7, 32], f: [3, 3, 32, 8], s: 2, pad: [[0, 0], [3, 0], [0, 2], [0, 0]] },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
        const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad);
        await compare('Conv2DBackpropInput', String(i), () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: t4(info.outShape, 40 + i), filter: t4(c.f, 50 + i) },
            { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor);
      });
    });
  });

  describe('Conv2DBackpropFilter', () => {
    const cases: Array<{ x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad }> = [
      { x: [1, 7, 8, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
      { x: [2, 8, 8, 4], f: [3, 3, 4, 5], s: 2, pad: 'same' },
      { x: [2, 9, 7, 2], f: [1, 1, 2, 6], s: 1, pad: 'valid' },
      { x: [1, 9, 9, 3], f: [3, 2, 3, 2], s: [2, 1], pad: 'valid' },
      { x: [2, 7, 7, 3], f: [3, 3, 3, 2], s: 2, pad: explicitPad },
      { x: [1, 10, 10, 2], f: [5, 5, 2, 3], s: 3, pad: 'same' },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
        const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad);
        await compare('Conv2DBackpropFilter', String(i), () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x: t4(c.x, 60 + i), dy: t4(info.outShape, 70 + i) },
            { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor);
      });
    });
  });

  describe('DepthwiseConv2dNativeBackpropFilter', () => {
    const cases: Array<{ x: Shape4; f: Shape4; s: number | [number, number]; pad: Pad }> = [
      { x: [1, 7, 8, 3], f: [3, 3, 3, 1], s: 1, pad: 'same' },
      { x: [2, 8, 8, 2], f: [3, 3, 2, 2], s: 2, pad: 'same' },
      { x: [2, 9, 7, 2], f: [5, 5, 2, 3], s: 1, pad: 'valid' },
      { x: [1, 9, 9, 3], f: [3, 2, 3, 2], s: [2, 1], pad: 'valid' },
      { x: [2, 7, 7, 2], f: [3, 3, 2, 2], s: 2, pad: explicitPad },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} filter ${c.f} stride ${c.s} pad ${JSON.stringify(c.pad)}`, async () => {
        const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad, undefined, true);
        await compare('DepthwiseConv2dNativeBackpropFilter', String(i), () =>
          tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: t4(c.x, 80 + i), dy: t4(info.outShape, 90 + i) },
            { strides: c.s, dilations: 1, pad: c.pad, filterShape: c.f } as unknown as tf.NamedAttrMap) as tf.Tensor);
      });
    });

    it('dilation 2 (against <dy, conv(x, e_k)> on cpu)', async () => {
      const x: Shape4 = [2, 7, 6, 2];
      const f: Shape4 = [3, 3, 2, 2];
      const info = tf.backend_util.computeConv2DInfo(x, f, 1, 2, 'same', undefined, true);
      const xVals = randn(x.reduce((a, b) => a * b), 33);
      const dyVals = randn(info.outShape.reduce((a, b) => a * b), 34);
      const [got] = await onBackend('wasm', () =>
        tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x: tf.tensor(xVals, x), dy: tf.tensor(dyVals, info.outShape) },
          { strides: 1, dilations: 2, pad: 'same', filterShape: f } as unknown as tf.NamedAttrMap) as tf.Tensor);
      const K = f.reduce((a, b) => a * b);
      const ref = await onBackend('cpu', () => {
        const xs = tf.tensor(xVals, x) as tf.Tensor4D;
        const dy = tf.tensor(dyVals, info.outShape);
        const parts: tf.Tensor[] = [];
        for (let k = 0; k < K; k++) {
          const e = tf.reshape(tf.oneHot(k, K, 1, 0, 'float32'), f) as tf.Tensor4D;
          parts.push(tf.sum(tf.mul(tf.depthwiseConv2d(xs, e, 1, 'same', 'NHWC', 2), dy)));
        }
        return tf.stack(parts);
      });
      const err = relErr(got, ref[0]);
      record('DepthwiseConv2dNativeBackpropFilter', err);
      assert.ok(err < TOL, `dilation 2: ${err}`);
    });
  });

  describe('MaxPoolGrad (through tf.grad of maxPool; inputs mostly negative)', () => {
    const cases: Array<{ x: Shape4; k: number | [number, number]; s: number | [number, number]; pad: 'same' | 'valid' | number }> = [
      { x: [2, 8, 8, 3], k: 2, s: 2, pad: 'valid' },
      { x: [1, 9, 9, 4], k: 3, s: 2, pad: 'same' },
      { x: [2, 7, 8, 2], k: 3, s: 1, pad: 'same' },
      { x: [1, 9, 8, 3], k: [3, 2], s: [2, 1], pad: 'valid' },
      { x: [1, 8, 8, 2], k: 3, s: 2, pad: 1 },
    ];
    cases.forEach((c, i) => {
      it(`x ${c.x} window ${c.k} stride ${c.s} pad ${c.pad}`, async () => {
        await compare('MaxPoolGrad', String(i), () => {
          const x = t4(c.x, 100 + i, -1.5);
          const w = t4(tf.maxPool(x, c.k, c.s, c.pad).shape, 110 + i);
          return tf.grad((a) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, c.k, c.s, c.pad), w)))(x);
        });
      });
    });
  });

  describe('UnsortedSegmentSum', () => {
    it('direct, 1-D and 3-D data, repeated ids', async () => {
      for (const [shape, numSegments] of [[[50], 7], [[40, 3, 5], 11], [[300, 2], 300]] as Array<[number[], number]>) {
        const n = shape[0];
        const ids = Int32Array.from(randn(n, n), (v) => Math.min(numSegments - 1, Math.floor(Math.abs(v) * numSegments / 2)));
        await compare('UnsortedSegmentSum', `${shape}`, () =>
          tf.unsortedSegmentSum(tf.tensor(randn(shape.reduce((a, b) => a * b), 7), shape), tf.tensor1d(ids, 'int32'), numSegments));
      }
    });

    it('as the gradient of gather (axis 0 and 1, as a bilinear sampler uses it)', async () => {
      const idx = Int32Array.from(randn(60, 5), (v) => Math.min(11, Math.floor(Math.abs(v) * 6)));
      await compare('UnsortedSegmentSum', 'gather', () => {
        const x = tf.tensor(randn(12 * 6 * 2, 9), [12, 6, 2]);
        const i0 = tf.tensor1d(idx, 'int32');
        const i1 = tf.tensor1d(idx.map((v) => v % 6), 'int32');
        const f = (a: tf.Tensor): tf.Scalar =>
          tf.add(tf.sum(tf.mul(tf.gather(a, i0, 0), tf.reshape(tf.range(1, 1 + 60 * 12), [60, 6, 2]))),
            tf.sum(tf.square(tf.gather(a, i1, 1))));
        return tf.grad(f)(x);
      });
    });

    it('rejects an out-of-range segment id with a clear error', async () => {
      await tf.setBackend('wasm');
      assert.throws(() => tf.tidy(() => tf.unsortedSegmentSum(tf.ones([3, 2]), tf.tensor1d([0, 5, 1], 'int32'), 3)),
        /segment id 5 at position 1 is outside \[0, 3\)/);
    });
  });

  describe('end to end: tf.grad of small conv nets, wasm vs cpu', () => {
    /** conv s2 -> relu -> depthwise (x2) -> relu6 -> 1x1 conv -> maxPool same -> conv s2 valid -> mean. */
    function net(x: tf.Tensor4D, w: tf.Tensor4D[]): tf.Scalar {
      let h: tf.Tensor4D = tf.relu(tf.conv2d(x, w[0], 2, 'same'));
      h = tf.relu6(tf.depthwiseConv2d(h, w[1], 1, 'same'));
      h = tf.conv2d(h, w[2], 1, 'valid');
      h = tf.maxPool(h, 3, 2, 'same');
      h = tf.conv2d(h, w[3], 2, 'valid');
      return tf.mean(tf.square(h));
    }
    const wShapes: Shape4[] = [[3, 3, 3, 16], [3, 3, 16, 2], [1, 1, 32, 24], [3, 3, 24, 8]];

    it('input gradient, batch 2', async () => {
      await compare('end-to-end', 'input grad', () => {
        const w = wShapes.map((s, i) => t4(s, 200 + i));
        return tf.grad((x) => net(x as tf.Tensor4D, w))(t4([2, 17, 17, 3], 210));
      });
    });

    it('gradients of all weights and the input (filter kernels, fused conv with bias as in graph models)', async () => {
      await compare('end-to-end', 'all grads', () => {
        const w = wShapes.map((s, i) => t4(s, 220 + i));
        const bias = tf.tensor1d(randn(8, 230));
        const fdw = t4([3, 3, 8, 1], 231);
        const f = (x: tf.Tensor, w0: tf.Tensor, w1: tf.Tensor, w2: tf.Tensor, w3: tf.Tensor, fw: tf.Tensor): tf.Scalar => {
          let h: tf.Tensor4D = tf.relu(tf.conv2d(x as tf.Tensor4D, w0 as tf.Tensor4D, 2, 'same'));
          h = tf.relu6(tf.depthwiseConv2d(h, w1 as tf.Tensor4D, 1, 'same'));
          h = tf.conv2d(h, w2 as tf.Tensor4D, 1, 'valid');
          h = tf.maxPool(h, 3, 2, 'same');
          h = tf.fused.conv2d({ x: h, filter: w3 as tf.Tensor4D, strides: 1, pad: 'same', bias });
          h = tf.fused.depthwiseConv2d({ x: h, filter: fw as tf.Tensor4D, strides: 2, pad: 'same', bias });
          return tf.mean(tf.square(h));
        };
        return tf.grads(f)([t4([2, 15, 15, 3], 240), ...w, fdw]);
      });
    });

    it('MobileNet v1 0.25 graph model (fused conv/depthwise ops: filter gradients too), input gradient', async function () {
      this.timeout(120000);
      const dir = fixture('models', 'mobilenet_v1_0.25_224_graph');
      const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
      const weights = fs.readFileSync(path.join(dir, mj.weightsManifest[0].paths[0]));
      const model = await tfc.loadGraphModel(tf.io.fromMemory({
        modelTopology: mj.modelTopology,
        weightSpecs: mj.weightsManifest[0].weights,
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }));
      try {
        const x = randn(224 * 224 * 3, 700).map((v) => 0.5 + 0.2 * v);
        await compare('end-to-end', 'mobilenet graph', () =>
          tf.grad((v) => tf.sum(tf.slice(model.execute(v) as tf.Tensor, [0, 1], [1, 5])))(tf.tensor4d(x, [1, 224, 224, 3])));
      } finally {
        model.dispose();
      }
    });
  });
  describe('Slice (reads the heap in place)', () => {
    const cases: Array<[number[], number[], number[]]> = [
      [[6, 5], [2, 0], [3, 5]], [[6, 5], [1, 2], [4, 2]], [[3, 4, 5], [1, 1, 0], [2, 2, 5]], [[3, 4, 5], [0, 1, 2], [3, 3, 3]],
      [[2, 3, 4, 5, 6], [1, 0, 2, 1, 3], [1, 3, 2, 3, 2]], [[3, 10], [1, 0], [1, 10]], [[4], [1], [2]], [[2, 3], [0, 0], [0, 3]],
    ];
    cases.forEach(([shape, begin, size], i) => {
      it(`x ${shape} begin ${begin} size ${size}`, async () => {
        await compare('Slice', String(i), () => tf.slice(tf.reshape(tf.range(0, shape.reduce((a, b) => a * b, 1)), shape), begin, size));
      });
    });
    it('Unpack along each axis', async () => {
      for (const axis of [0, 1, 2, -1]) {
        await compare('Unpack', `axis ${axis}`, () => tf.concat(tf.unstack(tf.reshape(tf.range(0, 60), [3, 4, 5]), axis).map((z) => tf.reshape(z, [-1])), 0));
      }
    });

    it('SplitV by sizes and by count', async () => {
      const x = () => tf.reshape(tf.range(0, 120), [4, 5, 6]);
      await compare('SplitV', 'sizes axis 2', () => tf.concat(tf.split(x(), [1, 3, 2], 2).map((z) => tf.reshape(z, [-1])), 0));
      await compare('SplitV', 'count axis 0', () => tf.concat(tf.split(x(), 2, 0).map((z) => tf.reshape(z, [-1])), 0));
      await compare('SplitV', 'sizes axis 1 with -1', () => tf.concat(tf.split(x(), [2, -1], 1).map((z) => tf.reshape(z, [-1])), 0));
    });

    it('int32 and bool tensors', async () => {
      await compare('Slice', 'int32', () => tf.cast(tf.slice(tf.reshape(tf.range(0, 24, 1, 'int32'), [4, 6]), [1, 1], [2, 4]), 'float32'));
      await compare('Slice', 'bool', () => tf.cast(tf.slice(tf.greater(tf.reshape(tf.range(0, 24), [4, 6]), 10), [1, 1], [2, 4]), 'float32'));
    });
  });
});
