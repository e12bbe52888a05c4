// Multi-head self-attention as few, fast ops: one projection matmul for q, k and v, batched (or, on plain wasm,
// per image and head 2-D) score and context matmuls, one output projection. Built by the Keras interpreter
// (MultiHeadAttention, NeuronLens>MultiHeadSelfAttention).
import * as tf from '@tensorflow/tfjs-core';
import { oneDnnActive } from '../../backend/onednn';
import { type DenseKernel, denseLastAxis } from './dense';

/**
 * a @ b for two computed 2-D tensors; both input gradients run as un-transposed matmuls (dy @ b^T and a^T @ dy
 * with explicit transposes), which TF.js wasm sends to XNNPACK instead of its scalar transposed/batched loop.
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((ai: tf.Tensor | tf.GradSaveFunc, bi: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    (save as tf.GradSaveFunc)([ai as tf.Tensor, bi as tf.Tensor]);
    return {
      value: tf.matMul(ai as tf.Tensor2D, bi as tf.Tensor2D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.matMul(dy as tf.Tensor2D, tf.transpose(saved[1] as tf.Tensor2D)),
        tf.matMul(tf.transpose(saved[0] as tf.Tensor2D), dy as tf.Tensor2D),
      ],
    };
  });
  return f(a, b) as tf.Tensor2D;
}

/**
 * [B*T, H*dim] -> per head, per image: [T, dim] pieces, as a transpose to [H, B*T, dim] and splits along the first
 * axis (contiguous copies; wasm's slice of inner columns copies row by row in JavaScript). Gradients: concat and
 * transpose.
 */
function headPieces(z: tf.Tensor, b: number, heads: number, dim: number): tf.Tensor2D[][] {
  const t = z.shape[0] / b;
  const byHead = heads === 1 ? [z] : tf.split(tf.transpose(tf.reshape(z, [b * t, heads, dim]), [1, 0, 2]), heads, 0);
  return byHead.map((h) => {
    const flat = tf.reshape(h, [b * t, dim]);
    return (b === 1 ? [flat] : tf.split(flat, b, 0)) as tf.Tensor2D[];
  });
}

/**
 * Attention of every image and head. `proj` is the [B*T, H*K | H*K | H*V] projection; returns [B*T, H*V].
 * As batched matmuls over [B*H, T, *] (a few ops: what a GPU backend wants; free transposes with the oneDNN
 * kernels), except on wasm without those: there as 2-D matmuls ({@link matMul2d}) per image and head, since
 * TF.js wasm runs batched or transposed matmuls on a scalar loop (ViT-B/16: about 10% of a step).
 */
function attend(proj: tf.Tensor2D, b: number, heads: number, keyDim: number, valueDim: number): tf.Tensor2D {
  const t = proj.shape[0] / b;
  if (tf.getBackend() !== 'wasm' || oneDnnActive()) {
    // [B*T, 3*H*K] -> [3, B, H, T, K] in one transpose when K == V; else split then one transpose each.
    const toHeads = (z: tf.Tensor, dim: number): tf.Tensor3D =>
      tf.reshape(tf.transpose(tf.reshape(z, [b, t, heads, dim]), [0, 2, 1, 3]), [b * heads, t, dim]);
    const [q, k, v] = keyDim === valueDim
      ? tf.unstack(tf.reshape(tf.transpose(tf.reshape(proj, [b, t, 3, heads, keyDim]), [2, 0, 3, 1, 4]), [3, -1])).map((z) => tf.reshape(z, [b * heads, t, keyDim]) as tf.Tensor3D)
      : tf.split(proj, [heads * keyDim, heads * keyDim, heads * valueDim], 1).map((z, i) => toHeads(z, i < 2 ? keyDim : valueDim));
    const scores = tf.softmax(tf.matMul(tf.mul(q, 1 / Math.sqrt(keyDim)), k, false, true), -1); // [B*H, T, T], over keys
    const ctx = tf.matMul(scores, v); // [B*H, T, V]
    return tf.reshape(tf.transpose(tf.reshape(ctx, [b, heads, t, valueDim]), [0, 2, 1, 3]), [b * t, heads * valueDim]);
  }
  const [qz, kz, vz] = tf.split(proj, [heads * keyDim, heads * keyDim, heads * valueDim], 1);
  const q = headPieces(tf.mul(qz, 1 / Math.sqrt(keyDim)), b, heads, keyDim);
  const k = headPieces(kz, b, heads, keyDim);
  const v = headPieces(vz, b, heads, valueDim);
  const ctx: tf.Tensor[] = []; // image-major, then head: [T, V] each
  for (let i = 0; i < b; i++) {
    for (let h = 0; h < heads; h++) {
      const scores = tf.softmax(matMul2d(q[h][i], tf.transpose(k[h][i])), -1) as tf.Tensor2D; // [T, T], softmax over keys
      ctx.push(matMul2d(scores, v[h][i]));
    }
  }
  const all = ctx.length === 1 ? ctx[0] : tf.concat(ctx, 0); // [B*H*T, V]
  if (heads === 1) return all as tf.Tensor2D;
  return tf.reshape(tf.transpose(tf.reshape(all, [b, heads, t, valueDim]), [0, 2, 1, 3]), [b * t, heads * valueDim]);
}

/** Multi-head self-attention on [B, T, D] with a fused qkv projection (q, k, v blocks, heads contiguous). */
export function selfAttention(x: tf.Tensor, heads: number, qkvK: DenseKernel, qkvB: tf.Tensor, outK: DenseKernel, outB: tf.Tensor): tf.Tensor {
  const [b, t, d] = x.shape as [number, number, number];
  const hd = d / heads;
  const qkv = tf.reshape(denseLastAxis(x, qkvK, qkvB), [b * t, 3 * d]) as tf.Tensor2D;
  const merged = attend(qkv, b, heads, hd, hd); // [B*T, D]
  return tf.reshape(denseLastAxis(merged, outK, outB), [b, t, d]);
}

/**
 * Keras MultiHeadAttention (self-attention) on [B, T, D]: `wqkv` is [D, H*K | H*K | H*V] (query, key, value
 * projections side by side), `wo` is [H*V, Dout]. Scores are softmax(q k^T / sqrt(K)) over the keys.
 */
export function multiHeadAttention(x: tf.Tensor, heads: number, keyDim: number, valueDim: number, wqkv: DenseKernel, bqkv: tf.Tensor, wo: DenseKernel, bo: tf.Tensor): tf.Tensor {
  const [b, t] = x.shape as [number, number, number];
  const proj = tf.reshape(denseLastAxis(x, wqkv, bqkv), [b * t, heads * (2 * keyDim + valueDim)]) as tf.Tensor2D;
  const merged = attend(proj, b, heads, keyDim, valueDim); // [B*T, H*V]
  const out = denseLastAxis(merged, wo, bo);
  return tf.reshape(out, [b, t, out.shape[1]!]);
}
