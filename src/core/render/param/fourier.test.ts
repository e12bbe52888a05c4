import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { createParam, rfft2dFreqs } from '.';
import { channelPlane, describeParamContract, refRfft2 } from './testing_utils';

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

describe('render/param/fourier', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describeParamContract('fourier');

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
