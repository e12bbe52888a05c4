// Preprocessing: how an image in [0,1] maps to a model's input (see Preprocess in ./types).
import * as tf from '@tensorflow/tfjs-core';
import { channelAffine } from '../backend/affine';
import type { NLModel, Preprocess } from './types';

export function rangePreprocess(lo: number, hi: number, channels: number): Preprocess {
  return { scale: Array(channels).fill(hi - lo), offset: Array(channels).fill(lo), describe: `[0,1] -> [${lo},${hi}]` };
}

export function parseInputRange(s: string): [number, number] {
  const m = s.split(',').map((v) => Number(v.trim()));
  if (m.length !== 2 || m.some((v) => !Number.isFinite(v)) || m[0] === m[1]) {
    throw new Error(`bad --input-range "${s}": expected two different numbers "lo,hi", e.g. -1,1 or 0,255`);
  }
  return [m[0], m[1]];
}

/** torchvision-style normalization `(x - mean) / std` per channel. */
export function meanStdPreprocess(mean: number[], std: number[]): Preprocess {
  return { scale: std.map((s) => 1 / s), offset: mean.map((m, i) => -m / std[i]), describe: `(x - mean) / std, mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)}` };
}

/** Preprocess an image in [0,1] into the model's input space (one per-channel affine op, forward and backward). */
export function preprocessImage(model: NLModel, img: tf.Tensor4D): tf.Tensor4D {
  const { scale, offset } = model.preprocess;
  if (scale.every((s) => s === 1) && offset.every((o) => o === 0)) return img;
  return channelAffine(img, tf.tensor1d(scale), tf.tensor1d(offset), 'linear') as tf.Tensor4D;
}
