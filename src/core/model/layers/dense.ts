// Dense layers with a constant kernel: x @ W (+ bias) whose input gradient runs against a stored W^T. Built by the
// Keras interpreter (Dense, the attention projections) and by the ONNX importer (Gemm, MatMul [+ Add]).
import * as tf from '@tensorflow/tfjs-core';
import { _FusedMatMul } from '@tensorflow/tfjs-core';
import { oneDnnActive } from '../../backend/onednn';

/** A constant dense kernel and, for plain wasm, its stored transpose (see {@link matMulStoredT}). */
export interface DenseKernel { w: tf.Tensor2D; wT?: tf.Tensor2D }

/**
 * Keeps `w` and a transposed copy (owned through `keep`), except while the oneDNN kernels serve the backend:
 * their transposed matmul is as fast, and the copy would take the model's weight memory again (ViT-B/16: 344 MB).
 */
export function denseKernel(w: tf.Tensor2D, keep: tf.Tensor[]): DenseKernel {
  if (oneDnnActive()) return { w };
  const wT = tf.keep(tf.transpose(w));
  keep.push(wT);
  return { w, wT };
}

/**
 * x @ W (+ bias) for a constant W, with the input gradient dy @ W^T computed against the stored W^T, so that both
 * matmuls run un-transposed: TF.js wasm runs a transposed matmul on a scalar loop, 5-11x slower than the
 * XNNPACK fully-connected path (ViT-B/16: 86% of a step). The bias is added inside the matmul kernel (wasm's
 * broadcast add is slow). No gradient flows to W or the bias (the engine needs input gradients only).
 */
export function matMulStoredT(x: tf.Tensor2D, k: DenseKernel, bias?: tf.Tensor): tf.Tensor2D {
  const [m, kd] = x.shape;
  const n = k.w.shape[1];
  const f = tf.customGrad((xi: tf.Tensor | tf.GradSaveFunc) => ({
    // _FusedMatMul takes 3-D operands on every backend.
    value: tf.reshape(tf.engine().runKernel(_FusedMatMul, bias
      ? { a: tf.reshape(xi as tf.Tensor, [1, m, kd]), b: tf.reshape(k.w, [1, kd, n]), bias }
      : { a: tf.reshape(xi as tf.Tensor, [1, m, kd]), b: tf.reshape(k.w, [1, kd, n]) },
    { transposeA: false, transposeB: false, activation: 'linear' } as unknown as tf.NamedAttrMap) as tf.Tensor, [m, n]),
    gradFunc: (dy: tf.Tensor) => (k.wT ? tf.matMul(dy as tf.Tensor2D, k.wT) : tf.matMul(dy as tf.Tensor2D, k.w, false, true)),
  }));
  return f(x) as tf.Tensor2D;
}

/** Apply an op along the last axis of an N-D tensor via a 2-D matmul (XNNPACK's fast path on wasm). */
export function denseLastAxis(x: tf.Tensor, kernel: DenseKernel, bias?: tf.Tensor): tf.Tensor {
  const inDim = x.shape[x.rank - 1];
  const flat = x.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x, [-1, inDim]) as tf.Tensor2D;
  const y: tf.Tensor = matMulStoredT(flat, kernel, bias);
  return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), kernel.w.shape[1]]);
}
