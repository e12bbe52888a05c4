import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../backend';
import { Rng } from './rng';
import { AFFINE_SAMPLE, affineSample } from './sampler';
import { setOneDnnKernels } from '../backend/onednn';
import { CPU_PATHS } from '../backend/testing_utils';
import { Affine, FILL_VALUE, sampleAffine, sampleAffineGather } from './transforms';

type Shape = [number, number, number, number];

function randomValues(seed: number, n: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => r.next() * 2 - 0.5);
}

/**
 * A random map about the centres: rotation by any angle, anisotropic scale around the plain resize,
 * then a translation, small (most taps inside) or `far` (up to twice the image size: mostly outside).
 */
function randomAffine(r: Rng, inSize: [number, number], outSize: [number, number], far: boolean): Affine {
  const a = (r.next() * 2 - 1) * Math.PI;
  const sy = (inSize[0] / outSize[0]) * (0.6 + r.next() * 0.9);
  const sx = (inSize[1] / outSize[1]) * (0.6 + r.next() * 0.9);
  const [cos, sin] = [Math.cos(a), Math.sin(a)];
  const spread = far ? 2 : 0.15;
  const ty = (r.next() * 2 - 1) * spread * inSize[0];
  const tx = (r.next() * 2 - 1) * spread * inSize[1];
  const [m00, m01, m10, m11] = [cos * sy, sin * sx, -sin * sy, cos * sx];
  const [oy, ox] = [outSize[0] / 2, outSize[1] / 2];
  return [m00, m01, inSize[0] / 2 + ty - m00 * oy - m01 * ox, m10, m11, inSize[1] / 2 + tx - m10 * oy - m11 * ox];
}

interface Case {
  name: string;
  shape: Shape;
  out: [number, number];
  affines: (r: Rng, shape: Shape, out: [number, number]) => Affine[];
}

const random = (far: boolean) => (r: Rng, s: Shape, out: [number, number]) =>
  Array.from({ length: s[0] }, (_, i) => randomAffine(r, [s[1], s[2]], out, far && i % 2 === 1));
/** The plain resize to `out` (no rotation), integer-aligned positions included. */
const resize = (_r: Rng, s: Shape, out: [number, number]): Affine[] =>
  Array.from({ length: s[0] }, () => [s[1] / out[0], 0, 0, 0, s[2] / out[1], 0] as Affine);

const CASES: Case[] = [
  { name: 'B1 C1 9x13 -> 17x11 (upsampling), random maps', shape: [1, 9, 13, 1], out: [17, 11], affines: random(false) },
  { name: 'B3 C3 16x12 -> 7x9 (downsampling), random maps, one far outside', shape: [3, 16, 12, 3], out: [7, 9], affines: random(true) },
  { name: 'B2 C4 10x10 -> 10x14, random maps, one far outside', shape: [2, 10, 10, 4], out: [10, 14], affines: random(true) },
  { name: 'B2 C3 6x8 -> 12x4, plain resize (exact pixel boundaries)', shape: [2, 6, 8, 3], out: [12, 4], affines: resize },
  {
    name: 'B2 C1 5x7 -> 5x7, identity and integer shift partly outside',
    shape: [2, 5, 7, 1],
    out: [5, 7],
    affines: () => [
      [1, 0, 0, 0, 1, 0],
      [1, 0, -2, 0, 1, 3],
    ],
  },
  { name: 'B1 C3 4x4 -> 6x6, entirely outside', shape: [1, 4, 4, 3], out: [6, 6], affines: () => [[1, 0, 50, 0, 1, -40]] },
];

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.strictEqual(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

type Sampler = (img: tf.Tensor4D, affines: readonly Affine[], out: readonly [number, number]) => tf.Tensor4D;
const kernelPath: Sampler = (img, affines, out) => affineSample(img, affines, out, FILL_VALUE);

/** Value and gradient of sum(sample(img) * r) by `sampler`, on the active backend. */
function valueAndGrad(sampler: Sampler, c: Case, seed: number): { value: Float32Array; grad: Float32Array } {
  const affines = c.affines(new Rng(seed), c.shape, c.out);
  return tf.tidy(() => {
    const img = tf.tensor4d(randomValues(seed + 1, c.shape.reduce((a, b) => a * b)), c.shape);
    const r = tf.tensor4d(randomValues(seed + 2, c.shape[0] * c.out[0] * c.out[1] * c.shape[3]), [c.shape[0], ...c.out, c.shape[3]]);
    const value = sampler(img, affines, c.out).dataSync() as Float32Array;
    const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(sampler(x as tf.Tensor4D, affines, c.out), r)))(img).dataSync() as Float32Array;
    return { value, grad };
  });
}

describe('render/sampler (NeuronLensAffineSample kernels)', () => {
  before(async () => {
    await initBackend('wasm'); // registers the project's UnsortedSegmentSum, which the gather path's wasm gradient needs
    await tf.setBackend('cpu');
  });
  after(async () => {
    await tf.setBackend('cpu');
  });

  // wasm runs the oneDNN addon's loops when it is built, the JavaScript loops without.
  for (const path of CPU_PATHS) {
    describe(`on ${path.label}`, () => {
      before(async () => {
        await tf.setBackend(path.backend);
        if (path.backend === 'wasm') setOneDnnKernels(path.native);
      });
      after(() => {
        if (path.backend === 'wasm') setOneDnnKernels(true); // as initBackend leaves it
      });

      CASES.forEach((c, ci) => {
        it(`equals the gather path, value and gradient: ${c.name}`, () => {
          const before = tf.memory().numTensors;
          const k = valueAndGrad(kernelPath, c, 100 + ci);
          const g = valueAndGrad(sampleAffineGather, c, 100 + ci);
          assert.strictEqual(tf.memory().numTensors, before, 'tensors leaked');
          const dv = maxAbsDiff(k.value, g.value);
          const dg = maxAbsDiff(k.grad, g.grad);
          console.log(`        max |kernel - gather|: value ${dv.toExponential(2)}, gradient ${dg.toExponential(2)}`);
          assert.ok(dv < 1e-5 && dg < 1e-5, `value ${dv}, gradient ${dg}`);
          assert.ok(g.grad.some((v) => Math.abs(v) > 0.05) || ci === CASES.length - 1, 'gradient is ~zero: test is weak');
        });
      });

      it('the entirely-outside map reads the fill value and has a zero gradient', () => {
        const c = CASES[CASES.length - 1];
        const k = valueAndGrad(kernelPath, c, 7);
        assert.ok(k.value.every((v) => Math.abs(v - FILL_VALUE) < 1e-7));
        assert.ok(k.grad.every((v) => v === 0));
      });

      it('sampleAffine runs the kernel here', async () => {
        const img = tf.zeros([1, 3, 3, 1]) as tf.Tensor4D;
        const id: Affine = [1, 0, 0, 0, 1, 0];
        const p = await tf.profile(() => sampleAffine(img, [id], [3, 3]).dispose());
        img.dispose();
        assert.deepStrictEqual(p.kernelNames, [AFFINE_SAMPLE]);
      });

      it('works in an optimizer step and leaks no tensor or backend buffer', () => {
        const v = tf.variable(tf.tensor4d(randomValues(3, 2 * 8 * 6 * 3), [2, 8, 6, 3]));
        const r = tf.tensor4d(randomValues(4, 2 * 5 * 7 * 3), [2, 5, 7, 3]);
        const rng = new Rng(5);
        const opt = tf.train.sgd(0.1);
        const step = () => {
          const affines = [0, 1].map((i) => randomAffine(rng, [8, 6], [5, 7], i === 1));
          opt.minimize(() => tf.sum(tf.mul(sampleAffine(v, affines, [5, 7]), r)));
        };
        const v0 = v.dataSync().slice();
        step(); // the optimizer makes its state on the first step
        const tensors = tf.memory().numTensors;
        const buffers = tf.engine().backend.numDataIds();
        for (let i = 0; i < 3; i++) step();
        assert.strictEqual(tf.memory().numTensors, tensors);
        assert.strictEqual(tf.engine().backend.numDataIds(), buffers);
        assert.ok(maxAbsDiff(v.dataSync(), v0) > 1e-3, 'the variable did not move');
        tf.dispose([v, r]);
        opt.dispose();
      });
    });
  }

  it('gradient equals finite differences (cpu)', async () => {
    await tf.setBackend('cpu');
    const shape: Shape = [2, 5, 6, 3];
    const out: [number, number] = [7, 4];
    const rng = new Rng(9);
    const affines = [randomAffine(rng, [5, 6], out, false), randomAffine(rng, [5, 6], out, true)];
    const r = tf.tensor4d(randomValues(10, 2 * 7 * 4 * 3), [2, 7, 4, 3]);
    const f = (x: tf.Tensor) => tf.sum(tf.mul(affineSample(x as tf.Tensor4D, affines, out, FILL_VALUE), r));
    const base = randomValues(11, shape.reduce((a, b) => a * b));
    const img = tf.tensor4d(base, shape);
    const g = tf.tidy(() => tf.grad(f)(img).dataSync());
    // the map is affine in the image, so the central difference is exact up to float32 rounding
    const fAt = (vals: Float32Array) => tf.tidy(() => f(tf.tensor4d(vals, shape)).dataSync()[0]);
    const eps = 0.5;
    let worst = 0;
    let norm = 0;
    for (let i = 0; i < base.length; i++) {
      const up = Float32Array.from(base);
      const down = Float32Array.from(base);
      up[i] += eps;
      down[i] -= eps;
      const fd = (fAt(up) - fAt(down)) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - g[i]));
      norm = Math.max(norm, Math.abs(g[i]));
    }
    tf.dispose([img, r]);
    assert.ok(norm > 0.1, 'gradient is ~zero: test is weak');
    assert.ok(worst < 1e-4, `max |autodiff - fd| = ${worst}`);
  });

  it('rejects bad input with a clear error', async () => {
    await tf.setBackend('cpu');
    const img = tf.zeros([2, 4, 4, 1]) as tf.Tensor4D;
    const id: Affine = [1, 0, 0, 0, 1, 0];
    assert.throws(() => sampleAffine(img, [id], [4, 4]), /sampleAffine: 1 maps for a batch of 2/);
    assert.throws(() => sampleAffine(img, [id, [1, 0, NaN, 0, 1, 0]], [4, 4]), /sampleAffine: map 1 must be 6 finite numbers/);
    const ints = tf.zeros([2, 4, 4, 1], 'int32') as tf.Tensor4D;
    assert.throws(() => sampleAffine(ints, [id, id], [4, 4]), /sampleAffine: the image must be float32, got int32/);
    tf.dispose([img, ints]);
  });
});
