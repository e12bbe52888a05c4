import * as tf from '@tensorflow/tfjs-core';

/**
 * Image regularizers (penalties to ADD to the loss being minimized), after Lucid `optvis/objectives`.
 * Each takes an NHWC batch and returns one value per batch element, [B], so that batched units stay
 * independent. All are differentiable with plain ops that every backend has gradients for (slice,
 * abs, square, sum, pad, customGrad).
 */

function batchSum(t: tf.Tensor): tf.Tensor1D {
  return tf.sum(t, [1, 2, 3]) as tf.Tensor1D;
}

function check4d(name: string, img: tf.Tensor): void {
  if (img.rank !== 4) throw new Error(`${name}: expected an NHWC image batch [B,H,W,C], got shape [${img.shape}]`);
}

/**
 * Anisotropic total variation, Lucid's `total_variation` = `tf.image.total_variation`:
 * sum over h,w,c of |x[h+1,w,c] - x[h,w,c]| + |x[h,w+1,c] - x[h,w,c]|.
 */
export function totalVariation(img: tf.Tensor4D): tf.Tensor1D {
  check4d('totalVariation', img);
  return tf.tidy(() => {
    const [b, h, w, c] = img.shape;
    let tv = tf.zeros([b]) as tf.Tensor1D;
    if (h > 1) {
      const dy = tf.sub(tf.slice(img, [0, 1, 0, 0], [b, h - 1, w, c]), tf.slice(img, [0, 0, 0, 0], [b, h - 1, w, c]));
      tv = tf.add(tv, batchSum(tf.abs(dy)));
    }
    if (w > 1) {
      const dx = tf.sub(tf.slice(img, [0, 0, 1, 0], [b, h, w - 1, c]), tf.slice(img, [0, 0, 0, 0], [b, h, w - 1, c]));
      tv = tf.add(tv, batchSum(tf.abs(dx)));
    }
    return tv;
  });
}

/** Lucid `L1`: sum |x - constant|. */
export function l1(img: tf.Tensor4D, constant = 0): tf.Tensor1D {
  check4d('l1', img);
  return tf.tidy(() => batchSum(tf.abs(tf.sub(img, constant))));
}

/** Lucid `L2`: sqrt(epsilon + sum (x - constant)^2) (a norm, not its square). */
export function l2(img: tf.Tensor4D, constant = 0, epsilon = 1e-6): tf.Tensor1D {
  check4d('l2', img);
  return tf.tidy(() => tf.sqrt(tf.add(batchSum(tf.square(tf.sub(img, constant))), epsilon)) as tf.Tensor1D);
}

/**
 * Lucid's `_tf_blur(x, 3)`: a 3x3 per-channel blur with weight 1 at the centre and 0.5 on the 8
 * neighbours, zero-padded ('SAME') and divided by the same blur of a ones image (so edges and corners
 * are normalised by the weights that fall inside the image). Forward only (shifted slices of a
 * zero-padded copy).
 */
export function blur3x3(img: tf.Tensor4D): tf.Tensor4D {
  check4d('blur3x3', img);
  return tf.tidy(() => {
    const [b, h, w, c] = img.shape;
    const conv = (x: tf.Tensor4D, ch: number) => {
      const p = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
      let acc: tf.Tensor = tf.zeros([x.shape[0], h, w, ch]);
      for (let dy = 0; dy < 3; dy++) {
        for (let dx = 0; dx < 3; dx++) {
          const s = tf.slice(p, [0, dy, dx, 0], [x.shape[0], h, w, ch]);
          acc = tf.add(acc, dy === 1 && dx === 1 ? s : tf.mul(s, 0.5));
        }
      }
      return acc;
    };
    return tf.div(conv(img, c), conv(tf.ones([1, h, w, 1]) as tf.Tensor4D, 1)) as tf.Tensor4D;
  });
}

/**
 * Lucid `blur_input_each_step`: 0.5 * sum (x - stop_gradient(blur3x3(x)))^2. Its gradient is
 * x - blur3x3(x), so a gradient-descent step of size k on it moves the image k of the way towards its
 * blurred copy (Nguyen et al. 2015's blur every step, as a loss term).
 */
export function blurPenalty(img: tf.Tensor4D): tf.Tensor1D {
  check4d('blurPenalty', img);
  const f = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const x4 = x as tf.Tensor4D;
    const diff = tf.sub(x4, blur3x3(x4));
    (save as tf.GradSaveFunc)([diff]);
    return {
      value: tf.mul(batchSum(tf.square(diff)), 0.5) as tf.Tensor1D,
      gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => tf.mul(tf.reshape(dy, [-1, 1, 1, 1]), saved[0]),
    };
  });
  return f(img);
}
