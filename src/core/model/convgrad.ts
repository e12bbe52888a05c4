// Stride-1 convolutions with a constant filter whose input gradient is a forward convolution against a flipped
// (and, for conv2d, in/out-transposed) copy of the filter made once, when the layer is built (eagerly, so the
// model's tensor count does not change at its first gradient; the cost is one more copy of those filters).
//
// Why: the input gradient of a convolution is the convolution of the (padded) output gradient with the flipped,
// transposed filter. The wasm gradient kernels (src/core/backend/wasm_kernels.ts) build that filter afresh at every
// call, and TF.js wasm caches its XNNPACK convolution operators by filter tensor, so every step re-created the
// operator and re-packed the weights (MobileNet v1: the conv input gradients were a third of a step, 3-6x the
// forward convolution of the same shape). With the filter kept, the operator is made once. Strided and dilated
// convolutions, depthwise with a channel multiplier > 1, and even kernels with 'same' padding (asymmetric) keep the
// ordinary gradient. No gradient flows to the filter (the engine needs input gradients only).
import * as tf from '@tensorflow/tfjs-core';

type Pad = 'same' | 'valid';

/** Whether the stored-filter gradient applies: stride 1, no dilation, and 'valid' or odd kernel sizes. */
function applies(kernel: tf.Tensor4D, strides: [number, number], dil: [number, number], pad: Pad): boolean {
  const [kh, kw] = kernel.shape;
  return strides[0] === 1 && strides[1] === 1 && dil[0] === 1 && dil[1] === 1 && (pad === 'valid' || (kh % 2 === 1 && kw % 2 === 1));
}

/** dy -> the input for a forward conv giving dx: 'same' (odd kernels) keeps dy; 'valid' pads it by k-1. */
function gradInput(dy: tf.Tensor4D, kernel: tf.Tensor4D, pad: Pad): tf.Tensor4D {
  if (pad === 'same') return dy;
  const [kh, kw] = kernel.shape;
  return tf.pad(dy, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]]);
}

/**
 * conv2d(x, kernel) (NHWC) as a function of x, or null when the stored-filter gradient does not apply.
 * The flipped filter is pushed on `keep` (freed by the owner).
 */
export function conv2dWithStoredGrad(kernel: tf.Tensor4D, strides: [number, number], pad: Pad, dil: [number, number], keep: tf.Tensor[]):
  ((x: tf.Tensor4D) => tf.Tensor4D) | null {
  if (!applies(kernel, strides, dil, pad)) return null;
  const flipped = tf.keep(tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])));
  keep.push(flipped);
  const f = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.conv2d(x as tf.Tensor4D, kernel, 1, pad),
    gradFunc: (dy: tf.Tensor) => tf.conv2d(gradInput(dy as tf.Tensor4D, kernel, pad), flipped, 1, pad === 'same' ? 'same' : 'valid'),
  }));
  return (x) => f(x) as tf.Tensor4D;
}

/** depthwiseConv2d(x, kernel) with channel multiplier 1, as {@link conv2dWithStoredGrad}; null when it does not apply. */
export function depthwiseWithStoredGrad(kernel: tf.Tensor4D, strides: [number, number], pad: Pad, keep: tf.Tensor[]):
  ((x: tf.Tensor4D) => tf.Tensor4D) | null {
  if (kernel.shape[3] !== 1 || !applies(kernel, strides, [1, 1], pad)) return null;
  const flipped = tf.keep(tf.tidy(() => tf.reverse(kernel, [0, 1])));
  keep.push(flipped);
  const f = tf.customGrad((x: tf.Tensor | tf.GradSaveFunc) => ({
    value: tf.depthwiseConv2d(x as tf.Tensor4D, kernel, 1, pad),
    gradFunc: (dy: tf.Tensor) => tf.depthwiseConv2d(gradInput(dy as tf.Tensor4D, kernel, pad), flipped, 1, pad === 'same' ? 'same' : 'valid'),
  }));
  return (x) => f(x) as tf.Tensor4D;
}
