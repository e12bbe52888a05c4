// The importance (transparency) map of MACO (Fel et al. 2023, Xplique `maco` / `plot_maco`): the
// absolute gradient of the objective with respect to the image, summed over the optimization steps,
// then averaged over channels, clipped at its 80th percentile and scaled to [0, 1].
// The gradient is collected without an extra backward pass: the image goes through an identity whose
// gradient adds |dy| into a kept accumulator.
import * as tf from '@tensorflow/tfjs-core';
import type { RGBImage } from '../../image';

/** Xplique `plot_maco`'s default: values above this percentile of the map are clipped to it. */
export const IMPORTANCE_PERCENTILE = 80;

export class ImportanceAccumulator {
  private readonly sum: tf.Variable;
  private readonly tap: (x: tf.Tensor4D) => tf.Tensor4D;

  /** Accumulates into a zero [B,H,W,C] sum; free with dispose(). */
  constructor(shape: [number, number, number, number]) {
    this.sum = tf.tidy(() => tf.variable(tf.zeros(shape), false));
    const sum = this.sum;
    this.tap = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc) => ({
      value: tf.clone(x as tf.Tensor4D),
      gradFunc: (dy: tf.Tensor4D) => {
        sum.assign(tf.add(sum, tf.abs(dy)));
        return dy;
      },
    })) as (x: tf.Tensor4D) => tf.Tensor4D;
  }

  /** The image itself; the backward pass through it adds |d loss / d image| to the sum. */
  track(image: tf.Tensor4D): tf.Tensor4D {
    const s = this.sum.shape;
    if (image.shape.some((d, i) => d !== s[i])) {
      throw new Error(`ImportanceAccumulator: image is [${image.shape}], the accumulator [${s}]`);
    }
    return this.tap(image);
  }

  /** One single-channel map in [0, 1] per image (see normaliseImportance). */
  async maps(): Promise<RGBImage[]> {
    const [b, h, w, c] = this.sum.shape;
    const data = (await this.sum.data()) as Float32Array;
    const out: RGBImage[] = [];
    for (let i = 0; i < b; i++) out.push(normaliseImportance(data.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c));
    return out;
  }

  dispose(): void {
    this.sum.dispose();
  }
}

/**
 * Xplique `plot_maco`'s alpha: the mean over channels of an [H,W,C] sum of |gradients|, clipped to
 * [0, its IMPORTANCE_PERCENTILE-th percentile] (numpy's linear interpolation), divided by its maximum.
 * All zeros stays all zeros.
 */
export function normaliseImportance(sum: Float32Array, h: number, w: number, c: number): RGBImage {
  if (sum.length !== h * w * c) throw new Error(`normaliseImportance: ${sum.length} values for ${h}x${w}x${c}`);
  const mean = new Float32Array(h * w);
  for (let p = 0; p < h * w; p++) {
    let s = 0;
    for (let k = 0; k < c; k++) s += sum[p * c + k];
    mean[p] = s / c;
  }
  const sorted = Float64Array.from(mean).sort();
  const pos = (IMPORTANCE_PERCENTILE / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const ceil = sorted[lo] + (pos - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? 0) - sorted[lo]);
  const data = new Float32Array(h * w);
  if (ceil > 0) for (let p = 0; p < h * w; p++) data[p] = Math.min(Math.max(mean[p], 0), ceil) / ceil;
  return { width: w, height: h, channels: 1, data };
}
