import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initBackend } from '../backend';
import { onBackend, relErr } from '../backend/testing_utils';
import { Rng } from './rng';
import { FILL_VALUE, STANDARD_TRANSFORMS, TransformSpec, applyTransforms, parseTransforms, planTransforms } from './transforms';

function randomImage(seed: number, shape: [number, number, number, number]): tf.Tensor4D {
  const r = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => r.next()), shape);
}

function run(img: tf.Tensor4D, specs: readonly TransformSpec[], seed: number, out: [number, number]): Float32Array {
  const t = applyTransforms(img, specs, new Rng(seed), out);
  const d = t.dataSync() as Float32Array;
  t.dispose();
  return d;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.strictEqual(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('render/transforms', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('parseTransforms', () => {
    it('parses standard, none and lists', () => {
      assert.deepStrictEqual(parseTransforms('standard'), STANDARD_TRANSFORMS);
      assert.deepStrictEqual(parseTransforms(' none '), []);
      const t = parseTransforms('pad:12, jitter:8,scale:0.9-1.1,rotate:2,jitter:4,scale:1.5');
      assert.deepStrictEqual(t[0], { kind: 'pad', size: 12 });
      assert.deepStrictEqual(t[1], { kind: 'jitter', max: 8 });
      assert.strictEqual(t[2].kind, 'scale');
      const sc = (t[2] as { scales: number[] }).scales;
      assert.strictEqual(sc.length, 11);
      assert.ok(Math.abs(sc[0] - 0.9) < 1e-12 && Math.abs(sc[5] - 1) < 1e-12 && Math.abs(sc[10] - 1.1) < 1e-12);
      assert.deepStrictEqual(t[3], { kind: 'rotate', degrees: [-2, -1, 0, 1, 2] });
      assert.deepStrictEqual(t[4], { kind: 'jitter', max: 4 });
      assert.deepStrictEqual(t[5], { kind: 'scale', scales: [1.5] });
    });

    it('standard is Lucid standard_transforms', () => {
      const s = STANDARD_TRANSFORMS;
      assert.deepStrictEqual(s[0], { kind: 'pad', size: 12 });
      assert.deepStrictEqual((s[2] as { scales: number[] }).scales, [0.9, 0.92, 0.94, 0.96, 0.98, 1, 1.02, 1.04, 1.06, 1.08, 1.1]);
      const deg = (s[3] as { degrees: number[] }).degrees;
      assert.strictEqual(deg.length, 26);
      assert.strictEqual(deg.filter((d) => d === 0).length, 6);
    });

    const bad: [string, RegExp][] = [
      ['', /empty value/],
      ['blur:3', /unknown transform 'blur'/],
      ['pad', /cannot read 'pad'/],
      ['pad:-1', /pad size must be an integer in 0\.\.4096, got '-1'/],
      ['jitter:2.5', /jitter must be an integer/],
      ['jitter:x', /jitter must be a number, got 'x'/],
      ['scale:1.1-0.9', /scale needs 0 < LO <= HI/],
      ['scale:0', /scale needs 0 < LO/],
      ['scale:1-2-3', /scale must be 'LO-HI'/],
      ['rotate:200', /rotate \(max degrees\) must be an integer in 0\.\.180/],
      ['pad:12,,jitter:4', /cannot read ''/],
      ['Standard', /cannot read 'Standard'/],
    ];
    for (const [s, re] of bad) {
      it(`rejects '${s}'`, () => assert.throws(() => parseTransforms(s), re));
    }
  });

  describe('sampler', () => {
    it('no transforms and same size is exactly the identity', () => {
      const img = randomImage(1, [2, 7, 5, 3]);
      const out = run(img, [], 0, [7, 5]);
      assert.deepStrictEqual(Array.from(out), Array.from(img.dataSync()));
      img.dispose();
    });

    it('the final resize (down-sampling) equals tf.image.resizeBilinear with half-pixel centres', () => {
      const img = randomImage(2, [1, 12, 10, 2]);
      for (const size of [[6, 5], [7, 7], [12, 3]] as [number, number][]) {
        const ref = tf.image.resizeBilinear(img, size, false, true);
        const d = maxAbsDiff(run(img, [], 0, size), ref.dataSync());
        ref.dispose();
        assert.ok(d < 1e-6, `${size}: max diff ${d}`);
      }
      // and a scale stage followed by an identity resize
      const ref = tf.image.resizeBilinear(img, [6, 5], false, true);
      const d = maxAbsDiff(run(img, [{ kind: 'scale', scales: [0.5] }], 0, [6, 5]), ref.dataSync());
      ref.dispose();
      img.dispose();
      assert.ok(d < 1e-6, `scale 0.5: max diff ${d}`);
    });

    for (const s of [5, 6]) {
      it(`rotation by +90 / -90 degrees matches rot90 counter-clockwise / clockwise (${s}x${s})`, () => {
        const img = randomImage(s, [1, s, s, 2]);
        const src = img.dataSync();
        const at = (y: number, x: number, c: number) => src[(y * s + x) * 2 + c];
        for (const deg of [90, -90]) {
          const got = run(img, [{ kind: 'rotate', degrees: [deg] }], 0, [s, s]);
          const ref: number[] = [];
          for (let y = 0; y < s; y++) {
            for (let x = 0; x < s; x++) {
              for (let c = 0; c < 2; c++) {
                // numpy rot90 (CCW as displayed): out[y][x] = in[x][s-1-y]; CW: out[y][x] = in[s-1-x][y]
                ref.push(deg > 0 ? at(x, s - 1 - y, c) : at(s - 1 - x, y, c));
              }
            }
          }
          const d = maxAbsDiff(got, ref);
          assert.ok(d < 1e-5, `${deg} deg: max diff ${d}`);
        }
        img.dispose();
      });
    }

    it('a bright pixel at the top right moves to the top left under +90 (counter-clockwise)', () => {
      const data = new Float32Array(16);
      data[3] = 1; // row 0, col 3
      const img = tf.tensor4d(data, [1, 4, 4, 1]);
      const got = run(img, [{ kind: 'rotate', degrees: [90] }], 0, [4, 4]);
      img.dispose();
      assert.ok(Math.abs(got[0] - 1) < 1e-6, `top-left is ${got[0]}`);
    });

    it('pad + jitter equals cropping the 0.5-padded image at the drawn offsets', () => {
      const [h, w] = [5, 6];
      const img = randomImage(3, [3, h, w, 1]);
      const specs: TransformSpec[] = [{ kind: 'pad', size: 3 }, { kind: 'jitter', max: 4 }];
      const out: [number, number] = [h + 2, w + 2];
      const plans = planTransforms(specs, new Rng(11), 3, [h, w], out);
      const got = run(img, specs, 11, out);
      const src = img.dataSync();
      img.dispose();
      const ref: number[] = [];
      for (let b = 0; b < 3; b++) {
        const [dy, dx] = plans[b].draws[1] as [number, number];
        for (let y = 0; y < out[0]; y++) {
          for (let x = 0; x < out[1]; x++) {
            const sy = y + dy - 3;
            const sx = x + dx - 3;
            ref.push(sy >= 0 && sy < h && sx >= 0 && sx < w ? src[(b * h + sy) * w + sx] : FILL_VALUE);
          }
        }
      }
      assert.ok(plans.some((p) => (p.draws[1] as number[]).some((v) => v !== 0)), 'all offsets zero: test is weak');
      assert.ok(maxAbsDiff(got, ref) < 1e-6);
    });

    it('draws independently per batch element, reproducibly per seed', () => {
      const one = randomImage(4, [1, 9, 9, 1]);
      const img = tf.concat([one, one, one, one]) as tf.Tensor4D;
      one.dispose();
      const a = run(img, STANDARD_TRANSFORMS, 21, [8, 8]);
      const b = run(img, STANDARD_TRANSFORMS, 21, [8, 8]);
      const c = run(img, STANDARD_TRANSFORMS, 22, [8, 8]);
      img.dispose();
      assert.deepStrictEqual(Array.from(a), Array.from(b));
      assert.ok(maxAbsDiff(a, c) > 1e-3);
      const n = 64;
      const elems = [0, 1, 2, 3].map((i) => a.subarray(i * n, (i + 1) * n));
      let distinct = 0;
      for (let i = 1; i < 4; i++) if (maxAbsDiff(elems[0], elems[i]) > 1e-3) distinct++;
      assert.ok(distinct >= 2, `batch elements look alike (${distinct} of 3 differ from the first)`);
    });

    it('gradient equals finite differences (standard transforms, cpu)', () => {
      const shape: [number, number, number, number] = [2, 6, 5, 2];
      const img = randomImage(5, shape);
      const out: [number, number] = [5, 7];
      const r = randomImage(6, [2, ...out, 2]);
      const specs: TransformSpec[] = [
        { kind: 'pad', size: 2 },
        { kind: 'jitter', max: 2 },
        { kind: 'scale', scales: [0.83, 1.17] },
        { kind: 'rotate', degrees: [-23, 31] },
        { kind: 'jitter', max: 1 },
      ];
      const f = (x: tf.Tensor) => tf.sum(tf.mul(applyTransforms(x as tf.Tensor4D, specs, new Rng(8), out), r));
      const g = tf.grad(f)(img);
      const gd = g.dataSync();
      g.dispose();
      const base = img.dataSync();
      const f0 = tf.tidy(() => f(img).dataSync()[0]);
      const eps = 0.5; // the map is affine in the image, so the difference quotient is exact up to rounding
      let worst = 0;
      let norm = 0;
      for (let i = 0; i < base.length; i++) {
        const bumped = Float32Array.from(base);
        bumped[i] += eps;
        const fi = tf.tidy(() => f(tf.tensor4d(bumped, shape)).dataSync()[0]);
        worst = Math.max(worst, Math.abs((fi - f0) / eps - gd[i]));
        norm = Math.max(norm, Math.abs(gd[i]));
      }
      tf.dispose([img, r]);
      assert.ok(norm > 0.1, 'gradient is ~zero: test is weak');
      assert.ok(worst < 1e-4, `max |autodiff - fd| = ${worst}`);
    });

    it('rejects a jitter larger than the image and bad sizes', () => {
      const img = tf.zeros([1, 4, 4, 1]) as tf.Tensor4D;
      assert.throws(() => applyTransforms(img, [{ kind: 'jitter', max: 4 }], new Rng(0), [4, 4]), /jitter 4 needs an image larger than that, the image is 4x4/);
      assert.throws(() => applyTransforms(img, [], new Rng(0), [0, 4]), /output size must be \[height, width\] positive integers, got \[0,4\]/);
      assert.throws(() => applyTransforms(img, [{ kind: 'scale', scales: [] }], new Rng(0), [4, 4]), /stage 0 \(scale\) needs a non-empty list of factors > 0/);
      assert.throws(() => applyTransforms(img, [{ kind: 'pad', size: 1.5 }], new Rng(0), [4, 4]), /stage 0 \(pad\) size must be an integer >= 0, got 1.5/);
      assert.throws(() => applyTransforms(img, [{ kind: 'warp' } as never], new Rng(0), [4, 4]), /stage 0 has unknown kind 'warp'/);
      img.dispose();
    });

    it('does not leak tensors (forward and gradient inside tidy)', () => {
      const img = randomImage(7, [2, 8, 8, 3]);
      const rng = new Rng(1);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 4; i++) {
        tf.tidy(() => {
          applyTransforms(img, STANDARD_TRANSFORMS, rng, [6, 6]);
          tf.grad((x: tf.Tensor) => tf.sum(applyTransforms(x as tf.Tensor4D, STANDARD_TRANSFORMS, rng, [6, 6])))(img);
        });
        assert.strictEqual(tf.memory().numTensors, before);
      }
      img.dispose();
    });
  });

  describe('on wasm (with the project wasm gradient kernels)', () => {
    before(async () => {
      await initBackend('wasm');
      await tf.setBackend('cpu');
    });

    it('standard transforms: value and gradient equal the cpu backend', async () => {
      const shape: [number, number, number, number] = [2, 20, 18, 3];
      const fn = () => {
        const img = randomImage(9, shape);
        const r = randomImage(10, [2, 16, 16, 3]);
        const f = (x: tf.Tensor) => tf.sum(tf.mul(applyTransforms(x as tf.Tensor4D, STANDARD_TRANSFORMS, new Rng(4), [16, 16]), r));
        return [applyTransforms(img, STANDARD_TRANSFORMS, new Rng(4), [16, 16]), tf.grad(f)(img)];
      };
      const before = tf.memory().numTensors;
      const w = await onBackend('wasm', fn);
      const c = await onBackend('cpu', fn);
      assert.strictEqual(tf.memory().numTensors, before);
      const errs = w.map((v, i) => relErr(v, c[i]));
      console.log(`      wasm vs cpu: value ${errs[0].toExponential(2)}, gradient ${errs[1].toExponential(2)}`);
      assert.ok(errs[0] < 1e-5 && errs[1] < 1e-5, `relative errors ${errs}`);
      assert.ok(c[1].some((v) => Math.abs(v) > 0.1), 'gradient is ~zero: test is weak');
    });
  });
});
