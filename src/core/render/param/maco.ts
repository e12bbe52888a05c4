// `maco`: magnitude-constrained optimization (Fel et al., NeurIPS 2023, "Unlocking Feature Visualization
// for Deeper Networks with MAgnitude Constrained Optimization"; Xplique `maco_image_parametrization`).
// The Fourier magnitude of the image is fixed to an average natural-image spectrum (maco-spectrum.json,
// made by scripts/maco_spectrum.py from the fixture photos) and only the phase is a variable:
//   phase' = (phase - mean) / (std + 1e-5)                       per image, over [C,H,FW]
//   x      = irfft2(magnitude * exp(i phase'))                   per channel
//   t      = (x - mean) / (std + 1e-5)                           per image, over [H,W,C]
//   image  = sigmoid(t @ M)                                      M the colour matrix of color.ts (Xplique's)
// One refinement over the reference: in the DC and Nyquist columns of the half plane the phase is made
// odd in the row frequency (phase'[-ky] = -phase'[ky]), so the spectrum is Hermitian there and the image's
// spectrum has exactly the fixed magnitude (the reference's irfft2 silently symmetrizes those columns).
// With 3 decorrelated channels the magnitude is the decorrelated spectrum of each channel; otherwise every
// channel gets the first (luminance) one. visualize returns MACO's importance map (param/importance.ts).
import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../rng';
import { colorDecorrelationMatrix, toValidImage } from './color';
import { createIrfft2dBases, inverseRealDft2d } from './dft';
import { checkParamOptions, seededVariable } from './options';
import { registerParam, type ImageParam, type ParamOptions } from './registry';
import spectrumFile from './maco-spectrum.json';

/**
 * Standard deviation of the initial phase, unless `sd` is given. The phase is standardized before use, so
 * only the Adam step relative to it matters: Xplique starts at sd 1 with Nadam(lr 1); at visualize's
 * default lr 0.05, sd 0.1 gives a relative step of 0.5 (measured on MobileNet v1 0.75, 256 steps, three
 * logits: final logits 78.9, 74.4, 81.7 against 76.0, 73.0, 77.7 with sd 1, and sharper objects).
 */
const PHASE_SD = 0.1;
const EPS = 1e-5;

export interface MacoParam extends ImageParam {
  /** The fixed magnitude, [C, H, floor(W/2)+1] row-major (the same for every image of the batch). */
  readonly magnitude: Float32Array;
  /** The complex half-plane spectrum whose inverse DFT makes each image: [re, im], each [B, C, H, FW]. */
  spectrum(): [tf.Tensor4D, tf.Tensor4D];
  /** The standardized image before colour and sigmoid, [B, H, W, C]. */
  spatial(): tf.Tensor4D;
}

/**
 * The stored magnitude resampled to an (h, w) half plane for `channels` channels: in frequency
 * coordinates (cycles per pixel, rows periodic), bilinear on the 1/f-whitened magnitude f*|X| (smooth for
 * natural images), divided by the target f; DC = 0. At the stored size it returns the stored values. The
 * DC and Nyquist columns are made exactly even in the row frequency (as the magnitude of a real image is).
 */
export function macoMagnitude(h: number, w: number, channels: number, decorrelated: boolean): Float32Array {
  const { size: s, magnitude: src } = spectrumFile as { size: number; magnitude: number[][][] };
  const sfw = s / 2 + 1;
  if (src.length !== 3 || src.some((ch) => ch.length !== s || ch.some((row) => row.length !== sfw))) {
    throw new Error(`maco-spectrum.json: magnitude must be [3, ${s}, ${sfw}]`);
  }
  const freq = (k: number, n: number) => (k <= Math.floor((n - 1) / 2) ? k : k - n) / n;
  const fw = Math.floor(w / 2) + 1;
  const out = new Float32Array(channels * h * fw);
  for (let c = 0; c < channels; c++) {
    const m = src[decorrelated ? c : 0];
    // Whitened source; its DC (0) takes the mean of its three nearest neighbours.
    const white = m.map((row, y) => row.map((v, x) => v * Math.hypot(freq(y, s), x / s)));
    white[0][0] = (white[0][1] + white[1][0] + white[s - 1][0]) / 3;
    for (let ty = 0; ty < h; ty++) {
      const fy = freq(ty, h);
      const sy = (((fy * s) % s) + s) % s;
      const y0 = Math.floor(sy);
      const y1 = (y0 + 1) % s;
      const ay = sy - y0;
      for (let tx = 0; tx < fw; tx++) {
        const fx = tx / w;
        const f = Math.hypot(fy, fx);
        if (f === 0) continue;
        const sx = fx * s;
        const x0 = Math.min(Math.floor(sx), sfw - 1);
        const x1 = Math.min(x0 + 1, sfw - 1);
        const ax = sx - x0;
        const v = (1 - ay) * ((1 - ax) * white[y0][x0] + ax * white[y0][x1]) + ay * ((1 - ax) * white[y1][x0] + ax * white[y1][x1]);
        out[(c * h + ty) * fw + tx] = v / f;
      }
    }
    for (const tx of w % 2 === 0 && fw > 1 ? [0, fw - 1] : [0]) {
      for (let ty = 1; ty < h - ty; ty++) {
        const a = (c * h + ty) * fw + tx;
        const b = (c * h + h - ty) * fw + tx;
        out[a] = out[b] = (out[a] + out[b]) / 2;
      }
    }
  }
  return out;
}

/** Per-image standardization over every axis but the first. */
function standardize<T extends tf.Tensor>(x: T): T {
  const axes = x.shape.slice(1).map((_, i) => i + 1);
  const { mean, variance } = tf.moments(x, axes, true);
  return tf.div(tf.sub(x, mean), tf.add(tf.sqrt(variance), EPS)) as T;
}

/** (p[ky] - p[-ky]) / 2 along the rows (axis 2) of a [B, C, H, 1] column: odd in the row frequency. */
function oddRows(col: tf.Tensor4D): tf.Tensor4D {
  const [b, c, h] = col.shape;
  if (h === 1) return tf.zerosLike(col);
  const flipped = tf.concat([tf.slice(col, [0, 0, 0, 0], [b, c, 1, 1]), tf.reverse(tf.slice(col, [0, 0, 1, 0], [b, c, h - 1, 1]), 2)], 2);
  return tf.mul(tf.sub(col, flipped), 0.5) as tf.Tensor4D;
}

export function createMacoParam(opts: ParamOptions): MacoParam {
  const o = checkParamOptions('maco', { ...opts, sd: opts.sd ?? PHASE_SD });
  const { batch: b, height: h, width: w, channels: c } = o;
  const rng = new Rng(o.seed);
  const bases = createIrfft2dBases(h, w);
  const fw = bases.fw;
  const magnitude = macoMagnitude(h, w, c, o.decorrelate);
  const mag = tf.keep(tf.tensor4d(magnitude, [1, c, h, fw]));
  const decorrelation = o.decorrelate ? tf.keep(tf.tensor2d(colorDecorrelationMatrix())) : null;
  const phase = seededVariable(rng.normals(b * c * h * fw, o.sd), [b, c, h, fw]);
  const nyquist = w % 2 === 0 && fw > 1;

  const spectrum = (): [tf.Tensor4D, tf.Tensor4D] =>
    tf.tidy(() => {
      const p = standardize(phase as tf.Tensor4D);
      const col = (x: number) => tf.slice(p, [0, 0, 0, x], [b, c, h, 1]);
      const parts = [oddRows(col(0))];
      const inner = fw - (nyquist ? 2 : 1);
      if (inner > 0) parts.push(tf.slice(p, [0, 0, 0, 1], [b, c, h, inner]));
      if (nyquist) parts.push(oddRows(col(fw - 1)));
      const q = parts.length > 1 ? tf.concat(parts, 3) : parts[0];
      return [tf.mul(mag, tf.cos(q)), tf.mul(mag, tf.sin(q))] as [tf.Tensor4D, tf.Tensor4D];
    });
  const spatial = (): tf.Tensor4D =>
    tf.tidy(() => {
      const [re, im] = spectrum();
      const x = inverseRealDft2d(tf.reshape(re, [b * c, h, fw]), tf.reshape(im, [b * c, h, fw]), bases);
      return standardize(tf.transpose(tf.reshape(x, [b, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D);
    });

  return {
    kind: 'maco',
    variables: [phase],
    magnitude,
    spectrum,
    spatial,
    image: () => tf.tidy(() => toValidImage(spatial(), decorrelation)),
    dispose() {
      phase.dispose();
      bases.dispose();
      mag.dispose();
      decorrelation?.dispose();
    },
  };
}

registerParam({
  name: 'maco',
  title: 'MACO',
  description: 'phase only, the Fourier magnitude fixed to that of natural photos (Fel et al. 2023); also returns an importance map',
  importance: true,
  create: createMacoParam,
});
