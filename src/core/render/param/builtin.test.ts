import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { ImageParam, createIrfft2dBases, createParam, inverseRealDft2d, rfft2dFreqs, colorDecorrelationMatrix } from '.';
import { initBackend } from '../../backend';
import { onBackend, relErr as relErrMax } from '../../backend/testing_utils';
import { Rng } from '../rng';

/** numpy irfft2(X, s=(h,w)) in float64: complex inverse DFT over rows, then Hermitian-extended inverse DFT per row. */
function refIrfft2(re: Float64Array, im: Float64Array, h: number, w: number): Float64Array {
  const fw = Math.floor(w / 2) + 1;
  // Axis 0: Y[m,k] = (1/h) sum_ky X[ky,k] e^{+2 pi i ky m/h}
  const yr = new Float64Array(h * fw);
  const yi = new Float64Array(h * fw);
  for (let m = 0; m < h; m++) {
    for (let k = 0; k < fw; k++) {
      let sr = 0;
      let si = 0;
      for (let ky = 0; ky < h; ky++) {
        const a = (2 * Math.PI * ky * m) / h;
        const xr = re[ky * fw + k];
        const xi = im[ky * fw + k];
        sr += xr * Math.cos(a) - xi * Math.sin(a);
        si += xr * Math.sin(a) + xi * Math.cos(a);
      }
      yr[m * fw + k] = sr / h;
      yi[m * fw + k] = si / h;
    }
  }
  // Axis 1: numpy irfft: build the full Hermitian spectrum (imag of DC / Nyquist dropped), inverse DFT, real part.
  const out = new Float64Array(h * w);
  const fr = new Float64Array(w);
  const fi = new Float64Array(w);
  for (let m = 0; m < h; m++) {
    fr.fill(0);
    fi.fill(0);
    for (let k = 0; k < fw; k++) {
      const r = yr[m * fw + k];
      const i = yi[m * fw + k];
      if (k === 0 || 2 * k === w) {
        fr[k] = r;
      } else {
        fr[k] = r;
        fi[k] = i;
        fr[w - k] = r;
        fi[w - k] = -i;
      }
    }
    for (let n = 0; n < w; n++) {
      let s = 0;
      for (let k = 0; k < w; k++) {
        const a = (2 * Math.PI * k * n) / w;
        s += fr[k] * Math.cos(a) - fi[k] * Math.sin(a);
      }
      out[m * w + n] = s / w;
    }
  }
  return out;
}

/** Forward real 2-D DFT half plane in float64 (numpy rfft2). */
function refRfft2(x: Float64Array, h: number, w: number): [Float64Array, Float64Array] {
  const fw = Math.floor(w / 2) + 1;
  const re = new Float64Array(h * fw);
  const im = new Float64Array(h * fw);
  for (let ky = 0; ky < h; ky++) {
    for (let k = 0; k < fw; k++) {
      let sr = 0;
      let si = 0;
      for (let m = 0; m < h; m++) {
        for (let n = 0; n < w; n++) {
          const a = -2 * Math.PI * ((ky * m) / h + (k * n) / w);
          sr += x[m * w + n] * Math.cos(a);
          si += x[m * w + n] * Math.sin(a);
        }
      }
      re[ky * fw + k] = sr;
      im[ky * fw + k] = si;
    }
  }
  return [re, im];
}

function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Fraction of the (mean-removed) energy of an [h,w] plane at frequency magnitude > cutoff cycles/pixel. */
function highFreqFraction(x: Float64Array, h: number, w: number, cutoff: number): number {
  let mean = 0;
  for (const v of x) mean += v / x.length;
  const [re, im] = refRfft2(x.map((v) => v - mean), h, w);
  const f = rfft2dFreqs(h, w);
  const fw = Math.floor(w / 2) + 1;
  let hi = 0;
  let all = 0;
  for (let i = 0; i < f.length; i++) {
    const k = i % fw;
    // Columns 1..ceil(w/2)-1 stand for two conjugate frequencies.
    const mult = k === 0 || 2 * k === w ? 1 : 2;
    const e = mult * (re[i] ** 2 + im[i] ** 2);
    all += e;
    if (f[i] > cutoff) hi += e;
  }
  return hi / all;
}

/** Mean power per frequency at f > 0.35 over mean power at 0 < f < 0.1 (cycles/pixel). */
function bandPowerRatio(x: Float64Array, h: number, w: number): number {
  const [re, im] = refRfft2(x, h, w);
  const f = rfft2dFreqs(h, w);
  let hi = 0;
  let nhi = 0;
  let lo = 0;
  let nlo = 0;
  for (let i = 0; i < f.length; i++) {
    const p = re[i] ** 2 + im[i] ** 2;
    if (f[i] > 0.35) {
      hi += p;
      nhi++;
    } else if (f[i] > 0 && f[i] < 0.1) {
      lo += p;
      nlo++;
    }
  }
  return hi / nhi / (lo / nlo);
}

function channelPlane(data: Float32Array, h: number, w: number, c: number, ch: number, b = 0): Float64Array {
  const out = new Float64Array(h * w);
  for (let i = 0; i < h * w; i++) out[i] = data[(b * h * w + i) * c + ch];
  return out;
}

describe('render/param', () => {
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

  describe('createParam', () => {
    it('color decorrelation matrix has max column norm 1 (Lucid max-norm)', () => {
      const m = colorDecorrelationMatrix(); // rgb = t @ m, so m's rows are C's columns
      const norms = m.map((row) => Math.hypot(...row));
      assert.ok(Math.abs(Math.max(...norms) - 1) < 1e-12, `norms ${norms}`);
      assert.ok(Math.abs(m[0][1] - 0.27 / Math.hypot(0.26, 0.27, 0.27)) < 1e-12);
    });

    for (const kind of ['pixel', 'fourier'] as const) {
      for (const channels of [1, 3, 4]) {
        it(`${kind}: shape, range (0,1), gradient reaches the variables (C=${channels})`, () => {
          const p = createParam(kind, { batch: 2, height: 9, width: 12, channels, seed: 1, sd: 0.5 });
          const img = p.image();
          assert.deepStrictEqual(img.shape, [2, 9, 12, channels]);
          const d = img.dataSync();
          img.dispose();
          for (const v of d) assert.ok(v > 0 && v < 1, `value ${v} outside (0,1)`);
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(p.image())) as tf.Scalar, p.variables);
          const g = grads[p.variables[0].name];
          assert.deepStrictEqual(g.shape, p.variables[0].shape);
          const gd = g.dataSync();
          assert.ok(gd.every(Number.isFinite) && gd.some((x) => x !== 0));
          value.dispose();
          tf.dispose(grads);
          p.dispose();
        });
      }

      it(`${kind}: a seed reproduces exact values; different seeds differ`, () => {
        const make = (seed: number) => {
          const p = createParam(kind, { batch: 1, height: 8, width: 8, channels: 3, seed });
          const img = p.image();
          const d = img.dataSync();
          img.dispose();
          p.dispose();
          return d;
        };
        const a = make(42);
        const b = make(42);
        const c = make(43);
        assert.deepStrictEqual(Array.from(a), Array.from(b));
        assert.ok(a.some((v, i) => v !== c[i]));
      });

      it(`${kind}: no tensor leaks across repeated image() calls and create/dispose`, () => {
        const before = tf.memory().numTensors;
        const p = createParam(kind, { batch: 2, height: 8, width: 7, channels: 3, seed: 3 });
        const during = tf.memory().numTensors;
        for (let i = 0; i < 5; i++) {
          tf.tidy(() => {
            p.image();
          });
          tf.tidy(() => {
            tf.variableGrads(() => tf.mean(p.image()) as tf.Scalar, p.variables);
          });
          assert.strictEqual(tf.memory().numTensors, during);
        }
        p.dispose();
        assert.strictEqual(tf.memory().numTensors, before);
        // Created inside a tidy, the parameter's constants survive the tidy.
        let q: ImageParam | undefined;
        tf.tidy(() => {
          q = createParam(kind, { batch: 1, height: 4, width: 4, channels: 3, seed: 1 });
        });
        if (!q) throw new Error('unreachable');
        const made = q;
        tf.tidy(() => {
          made.image();
        });
        made.dispose();
        assert.strictEqual(tf.memory().numTensors, before);
      });
    }

    it('rejects bad options with clear errors', () => {
      assert.throws(() => createParam('fourier', { batch: 1, height: 8, width: 8, channels: 1, seed: 0, decorrelate: true }), /decorrelation needs 3 channels, got channels=1/);
      assert.throws(() => createParam('pixel', { batch: 0, height: 8, width: 8, channels: 3, seed: 0 }), /batch must be a positive integer, got 0/);
      assert.throws(() => createParam('fourier', { batch: 1, height: 8, width: 8, channels: 3, seed: 0, decay: -1 }), /decay must be/);
      assert.throws(() => createParam('wavelet' as never, { batch: 1, height: 8, width: 8, channels: 3, seed: 0 }), /unknown parameterization "wavelet" \(expected pixel, fourier/);
    });

    it('fourier images have far less high-frequency energy than pixel images (init and random spectra)', () => {
      const [h, w, c] = [32, 32, 3];
      const cutoff = 0.25;
      // Per channel: energy fraction above `cutoff` cycles/px, and the mean power per frequency in the
      // band f > 0.35 over that in 0 < f < 0.1 (a flat, white spectrum gives ~1; amplitude 1/f gives ~f^-2).
      const stats = (kind: 'pixel' | 'fourier', sd: number, seed: number) => {
        const p = createParam(kind, { batch: 1, height: h, width: w, channels: c, seed, sd });
        const img = p.image();
        const d = img.dataSync() as Float32Array;
        img.dispose();
        p.dispose();
        let frac = 0;
        let band = 0;
        for (let ch = 0; ch < c; ch++) {
          const plane = channelPlane(d, h, w, c, ch);
          frac += highFreqFraction(plane, h, w, cutoff) / c;
          band += bandPowerRatio(plane, h, w) / c;
        }
        return { frac, band };
      };
      for (const sd of [0.01, 1]) {
        const pix = stats('pixel', sd, 7);
        const fou = stats('fourier', sd, 7);
        console.log(
          `      sd=${sd}: energy above ${cutoff} cycles/px: pixel ${(100 * pix.frac).toFixed(1)}%, fourier ${(100 * fou.frac).toFixed(1)}% ` +
            `(ratio ${(pix.frac / fou.frac).toFixed(1)}x); power f>0.35 / 0<f<0.1: pixel ${pix.band.toFixed(2)}, fourier ${fou.band.toFixed(4)}`,
        );
        assert.ok(pix.frac > 0.6, `pixel image should be white noise, got ${pix.frac}`);
        assert.ok(pix.frac / fou.frac > 2, `energy fraction ratio ${pix.frac / fou.frac}`);
        assert.ok(pix.band > 0.5 && fou.band < 0.1, `band power ratios pixel ${pix.band}, fourier ${fou.band}`);
      }
    });
  });

  describe('on wasm', () => {
    before(async () => {
      await initBackend('wasm');
      await tf.setBackend('cpu');
    });

    for (const kind of ['pixel', 'fourier'] as const) {
      it(`${kind}: image and gradient equal the cpu backend`, async () => {
        const fn = () => {
          const p = createParam(kind, { batch: 2, height: 31, width: 32, channels: 3, seed: 5, sd: 0.5 });
          const r = tf.randomUniform([2, 31, 32, 3], 0, 1, 'float32', 1);
          const img = p.image();
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(p.image(), r)) as tf.Scalar, p.variables);
          const g = grads[p.variables[0].name];
          const out = [tf.clone(img), tf.clone(g)];
          value.dispose();
          p.dispose();
          return out;
        };
        const before = tf.memory().numTensors;
        const w = await onBackend('wasm', fn);
        const c = await onBackend('cpu', fn);
        assert.strictEqual(tf.memory().numTensors, before);
        const errs = w.map((v, i) => relErrMax(v, c[i]));
        console.log(`      ${kind} wasm vs cpu: image ${errs[0].toExponential(2)}, gradient ${errs[1].toExponential(2)}`);
        assert.ok(errs[0] < 1e-5 && errs[1] < 1e-5, `relative errors ${errs}`);
      });
    }
  });
});
