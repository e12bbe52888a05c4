// Shared by the parameterization tests: float64 DFT references and the contract every registered
// parameterization meets (shape, range, gradient, seeding, no leaks, wasm equals cpu).
import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { onBackend, relErr as relErrMax } from '../../backend/testing_utils';
import { createParam, type ImageParam } from '.';

/** numpy irfft2(X, s=(h,w)) in float64: complex inverse DFT over rows, then Hermitian-extended inverse DFT per row. */
export function refIrfft2(re: Float64Array, im: Float64Array, h: number, w: number): Float64Array {
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
export function refRfft2(x: Float64Array, h: number, w: number): [Float64Array, Float64Array] {
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

export function relErr(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
}

export function channelPlane(data: Float32Array, h: number, w: number, c: number, ch: number, b = 0): Float64Array {
  const out = new Float64Array(h * w);
  for (let i = 0; i < h * w; i++) out[i] = data[(b * h * w + i) * c + ch];
  return out;
}

/**
 * The tests every parameterization passes, for `kind` as registered. Call inside a describe whose
 * backend is cpu.
 */
export function describeParamContract(kind: string): void {
  describe(`${kind}: the parameterization contract`, () => {
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

    describe('on wasm', () => {
      before(async () => {
        await initBackend('wasm');
        await tf.setBackend('cpu');
      });

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
    });
  });
}
