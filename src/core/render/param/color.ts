// Colour for image parameterizations: Lucid's ImageNet colour decorrelation and the map from the
// unconstrained space to a valid image in (0,1).
import * as tf from '@tensorflow/tfjs-core';

/** Lucid's `color_correlation_svd_sqrt` (square root of the ImageNet colour correlation matrix). */
export const COLOR_CORRELATION_SVD_SQRT: readonly (readonly number[])[] = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];

/**
 * The 3x3 matrix M such that rgb = t @ M: `(C / max_j ||C[:,j]||)^T` (Lucid `_linear_decorelate_color`).
 */
export function colorDecorrelationMatrix(): number[][] {
  const c = COLOR_CORRELATION_SVD_SQRT;
  let maxNorm = 0;
  for (let j = 0; j < 3; j++) maxNorm = Math.max(maxNorm, Math.hypot(c[0][j], c[1][j], c[2][j]));
  const m: number[][] = [];
  for (let i = 0; i < 3; i++) m.push([0, 1, 2].map((j) => c[j][i] / maxNorm));
  return m;
}

/**
 * sigmoid(t @ M) for 3 decorrelated channels (`decorrelation` = colorDecorrelationMatrix() as a tensor),
 * else sigmoid(t) (Lucid `to_valid_rgb(..., sigmoid=True)`).
 */
export function toValidImage(t: tf.Tensor4D, decorrelation: tf.Tensor2D | null): tf.Tensor4D {
  if (!decorrelation) return tf.sigmoid(t);
  const [b, h, w, c] = t.shape;
  const rgb = tf.matMul(tf.reshape(t, [b * h * w, c]), decorrelation);
  return tf.sigmoid(tf.reshape(rgb, [b, h, w, c]));
}
