import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createIrfft2dBases, inverseRealDft2d } from './dft';
import { Rng } from '../rng';
import { refIrfft2, refRfft2, relErr } from './testing_utils';

describe('render/param/dft', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describe('inverseRealDft2d (matmul DFT)', () => {
    const sizes: [number, number][] = [
      [8, 8],
      [7, 9],
      [6, 5],
      [1, 4],
      [5, 1],
      [33, 31],
      [224, 224],
    ];
    for (const [h, w] of sizes) {
      it(`equals a float64 irfft2 reference at ${h}x${w} (N=2)`, () => {
        const fw = Math.floor(w / 2) + 1;
        const n = 2;
        const rng = new Rng(h * 1000 + w);
        const re = Float64Array.from(rng.normals(n * h * fw));
        const im = Float64Array.from(rng.normals(n * h * fw));
        const bases = createIrfft2dBases(h, w);
        const got = tf.tidy(() =>
          inverseRealDft2d(tf.tensor3d(Float32Array.from(re), [n, h, fw]), tf.tensor3d(Float32Array.from(im), [n, h, fw]), bases),
        );
        assert.deepStrictEqual(got.shape, [n, h, w]);
        const g = got.dataSync();
        got.dispose();
        bases.dispose();
        let worst = 0;
        for (let b = 0; b < n; b++) {
          const ref = refIrfft2(re.subarray(b * h * fw, (b + 1) * h * fw), im.subarray(b * h * fw, (b + 1) * h * fw), h, w);
          worst = Math.max(worst, relErr(g.subarray(b * h * w, (b + 1) * h * w), ref));
        }
        console.log(`      ${h}x${w}: relative error ${worst.toExponential(2)}`);
        assert.ok(worst < 1e-5, `relative error ${worst}`);
      });
    }

    it('inverts a float64 forward rfft2 of a random image (round trip, 10x7)', () => {
      const [h, w] = [10, 7];
      const fw = Math.floor(w / 2) + 1;
      const rng = new Rng(5);
      const img = Float64Array.from(rng.normals(h * w));
      const [re, im] = refRfft2(img, h, w);
      const bases = createIrfft2dBases(h, w);
      const got = tf.tidy(() =>
        inverseRealDft2d(tf.tensor3d(Float32Array.from(re), [1, h, fw]), tf.tensor3d(Float32Array.from(im), [1, h, fw]), bases),
      );
      const err = relErr(got.dataSync(), img);
      got.dispose();
      bases.dispose();
      console.log(`      round trip relative error ${err.toExponential(2)}`);
      assert.ok(err < 1e-5, `relative error ${err}`);
    });

    it('has the gradient of a linear map (autodiff equals finite differences)', () => {
      const [h, w, n] = [6, 5, 1];
      const fw = Math.floor(w / 2) + 1;
      const rng = new Rng(9);
      const bases = createIrfft2dBases(h, w);
      const re = tf.tensor3d(rng.normals(n * h * fw), [n, h, fw]);
      const im = tf.tensor3d(rng.normals(n * h * fw), [n, h, fw]);
      const r = tf.tensor3d(rng.normals(n * h * w), [n, h, w]);
      const f = (a: tf.Tensor3D, b: tf.Tensor3D) => tf.sum(tf.mul(inverseRealDft2d(a, b, bases), r));
      const [gr, gi] = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a as tf.Tensor3D, b as tf.Tensor3D))([re, im]);
      const grd = gr.dataSync();
      const gid = gi.dataSync();
      const base = f(re, im).dataSync()[0];
      let worst = 0;
      for (let i = 0; i < n * h * fw; i++) {
        for (const [which, g] of [['re', grd], ['im', gid]] as const) {
          const bump = tf.tidy(() => {
            const e = tf.reshape(tf.oneHot([i], n * h * fw), [n, h, fw]) as tf.Tensor3D;
            return which === 're' ? f(tf.add(re, e), im) : f(re, tf.add(im, e));
          });
          const fd = bump.dataSync()[0] - base; // exact for a linear map (step 1)
          bump.dispose();
          worst = Math.max(worst, Math.abs(fd - g[i]));
        }
      }
      tf.dispose([re, im, r, gr, gi]);
      bases.dispose();
      assert.ok(worst < 1e-4, `max |autodiff - fd| = ${worst}`);
    });

    it('rejects spectra of the wrong shape', () => {
      const bases = createIrfft2dBases(8, 8);
      const z = tf.zeros([1, 8, 4]) as tf.Tensor3D;
      assert.throws(() => inverseRealDft2d(z, z, bases), /must be \[N, 8, 5\] for a 8x8 image/);
      z.dispose();
      bases.dispose();
      assert.throws(() => createIrfft2dBases(0, 8), /height must be a positive integer/);
    });
  });
});
