import type * as tf from '@tensorflow/tfjs-core';
import { RGBImage } from './image';

/**
 * A [B, H, W, C] float tensor (values nominally in [0, 1]) to B images, with one asynchronous read of the
 * whole batch. The tensor is not disposed.
 */
export async function tensorToImages(t: tf.Tensor4D): Promise<RGBImage[]> {
  if (t.rank !== 4) throw new Error(`tensorToImages: expected a rank-4 [B,H,W,C] tensor, got shape [${t.shape.join(',')}]`);
  if (t.dtype !== 'float32') throw new Error(`tensorToImages: expected a float32 tensor, got ${t.dtype}`);
  const [b, height, width, channels] = t.shape;
  const all = (await t.data()) as Float32Array;
  const n = height * width * channels;
  const out: RGBImage[] = [];
  for (let i = 0; i < b; i++) out.push({ width, height, channels, data: all.slice(i * n, (i + 1) * n) });
  return out;
}
