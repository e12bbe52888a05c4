import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { Rng } from './rng';
import { blur3x3, blurPenalty, l1, l2, totalVariation } from './regularizers';

const SHAPE: [number, number, number, number] = [3, 5, 4, 2];

function randomImage(seed: number, shape = SHAPE): tf.Tensor4D {
  const r = new Rng(seed);
  return tf.tensor4d(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => r.next()), shape);
}

/** float64 reference of Lucid's `_tf_blur(x, 3)` for an NHWC array. */
function refBlur(x: ArrayLike<number>, [b, h, w, c]: number[]): Float64Array {
  const out = new Float64Array(b * h * w * c);
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < w; xx++) {
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          let norm = 0;
          for (let dy = -1; dy <= 1; dy++) {
            for (let dx = -1; dx <= 1; dx++) {
              const yy = y + dy;
              const xq = xx + dx;
              if (yy < 0 || yy >= h || xq < 0 || xq >= w) continue;
              const k = dy === 0 && dx === 0 ? 1 : 0.5;
              s += k * x[((n * h + yy) * w + xq) * c + ch];
              norm += k;
            }
          }
          out[((n * h + y) * w + xx) * c + ch] = s / norm;
        }
      }
    }
  }
  return out;
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.strictEqual(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

describe('render/regularizers', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('total variation on a known image, with its gradient', () => {
    // [[0,1],[2,4]]: vertical |2-0|+|4-1| = 5, horizontal |1-0|+|4-2| = 3
    const x = tf.tensor4d([0, 1, 2, 4], [1, 2, 2, 1]);
    assert.deepStrictEqual(Array.from(totalVariation(x).dataSync()), [8]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(totalVariation(t as tf.Tensor4D)))(x);
    // x00: -1 (down) -1 (right); x01: +1 (from x00) -1 (down); x10: +1 (from x00) -1 (right); x11: +1 +1
    assert.deepStrictEqual(Array.from(g.dataSync()), [-2, 0, 0, 2]);
    tf.dispose([x, g]);
  });

  it('total variation equals a JS reference per batch element; 1-pixel images give 0', () => {
    const x = randomImage(1);
    const d = x.dataSync();
    const [b, h, w, c] = SHAPE;
    const at = (n: number, y: number, xx: number, ch: number) => d[((n * h + y) * w + xx) * c + ch];
    const ref: number[] = [];
    for (let n = 0; n < b; n++) {
      let s = 0;
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          for (let ch = 0; ch < c; ch++) {
            if (y + 1 < h) s += Math.abs(at(n, y + 1, xx, ch) - at(n, y, xx, ch));
            if (xx + 1 < w) s += Math.abs(at(n, y, xx + 1, ch) - at(n, y, xx, ch));
          }
        }
      }
      ref.push(s);
    }
    close(totalVariation(x).dataSync(), ref, 1e-5, 'tv');
    const one = tf.ones([2, 1, 1, 3]) as tf.Tensor4D;
    assert.deepStrictEqual(Array.from(totalVariation(one).dataSync()), [0, 0]);
    tf.dispose([x, one]);
  });

  it('L1 and L2 (around a constant) on known values', () => {
    const x = tf.tensor4d([0, 1, 0.5, 0.25, 2, 2, 2, 2], [2, 2, 2, 1]);
    close(l1(x).dataSync(), [1.75, 8], 1e-7, 'l1');
    close(l1(x, 0.5).dataSync(), [0.5 + 0.5 + 0 + 0.25, 6], 1e-7, 'l1@0.5');
    close(l2(x).dataSync(), [Math.sqrt(1e-6 + 1 + 0.25 + 0.0625), Math.sqrt(1e-6 + 16)], 1e-6, 'l2');
    close(l2(x, 0.5, 0).dataSync(), [Math.sqrt(0.25 + 0.25 + 0.0625), Math.sqrt(4 * 2.25)], 1e-6, 'l2@0.5');
    x.dispose();
  });

  it('blur3x3 is Lucid _tf_blur (known values and a JS reference)', () => {
    const delta = tf.tensor4d([0, 0, 0, 0, 1, 0, 0, 0, 0], [1, 3, 3, 1]);
    // centre 1/(1+8*0.5); corner 0.5/2.5; edge 0.5/3.5
    close(blur3x3(delta).dataSync(), [0.2, 1 / 7, 0.2, 1 / 7, 0.2, 1 / 7, 0.2, 1 / 7, 0.2], 1e-6, 'delta');
    const x = randomImage(2);
    close(blur3x3(x).dataSync(), refBlur(x.dataSync(), SHAPE), 1e-6, 'blur');
    const k = tf.fill([1, 4, 5, 2], 0.3) as tf.Tensor4D;
    close(blurPenalty(k).dataSync(), [0], 1e-10, 'constant image has no blur penalty');
    tf.dispose([delta, x, k]);
  });

  it('blur penalty value and its stop-gradient gradient x - blur(x)', () => {
    const x = randomImage(3);
    const d = x.dataSync();
    const bl = refBlur(d, SHAPE);
    const per = SHAPE[1] * SHAPE[2] * SHAPE[3];
    const ref = [0, 1, 2].map((n) => {
      let s = 0;
      for (let i = n * per; i < (n + 1) * per; i++) s += 0.5 * (d[i] - bl[i]) ** 2;
      return s;
    });
    close(blurPenalty(x).dataSync(), ref, 1e-5, 'blur penalty');
    const g = tf.grad((t: tf.Tensor) => tf.sum(blurPenalty(t as tf.Tensor4D)))(x);
    close(g.dataSync(), Array.from(d, (v, i) => v - bl[i]), 1e-6, 'grad');
    tf.dispose([x, g]);
  });

  it('every regularizer is per batch element: [B], and element b depends on image b only', () => {
    const x = randomImage(4);
    const fns = { totalVariation, l1, l2, blurPenalty };
    for (const [name, f] of Object.entries(fns)) {
      const all = f(x);
      assert.deepStrictEqual(all.shape, [SHAPE[0]], name);
      const allD = all.dataSync();
      for (let n = 0; n < SHAPE[0]; n++) {
        const one = tf.slice(x, [n, 0, 0, 0], [1, SHAPE[1], SHAPE[2], SHAPE[3]]) as tf.Tensor4D;
        const v = f(one);
        close(v.dataSync(), [allD[n]], 1e-6, `${name}[${n}]`);
        tf.dispose([one, v]);
      }
      // gradient of element 0's loss does not touch the other images
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.slice(f(t as tf.Tensor4D), [0], [1])))(x);
      const gd = g.dataSync();
      assert.ok(gd.slice(per(SHAPE)).every((v) => v === 0), `${name}: gradient leaks across the batch`);
      tf.dispose([all, g]);
    }
    x.dispose();
  });

  it('rejects non-4D input', () => {
    const t = tf.zeros([4, 4]);
    assert.throws(() => totalVariation(t as unknown as tf.Tensor4D), /totalVariation: expected an NHWC image batch \[B,H,W,C\], got shape \[4,4\]/);
    t.dispose();
  });

  it('does not leak tensors (values and gradients inside tidy)', () => {
    const x = randomImage(5);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        const loss = (t: tf.Tensor) => {
          const im = t as tf.Tensor4D;
          return tf.sum(tf.addN([totalVariation(im), l1(im, 0.5), l2(im, 0.5), blurPenalty(im)]));
        };
        loss(x);
        tf.grad(loss)(x);
      });
      assert.strictEqual(tf.memory().numTensors, before);
    }
    x.dispose();
  });
});

function per([, h, w, c]: number[]): number {
  return h * w * c;
}
