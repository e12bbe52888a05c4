/**
 * The affine bilinear sampler of ./transforms.ts as a custom TF.js op with its own kernels on the
 * `wasm` and `cpu` backends: `NeuronLensAffineSample` (image -> sampled image) and its gradient
 * `NeuronLensAffineSampleGrad` (dy -> d image, the 4 bilinear weights scattered back).
 *
 * The gather formulation (pad, gather, weighted sum) is slow on those backends: the wasm Gather kernel
 * and the gather gradient (UnsortedSegmentSum) cost more than a MobileNet step at 224x224, and the cpu
 * UnsortedSegmentSum is quadratic. These kernels are plain JavaScript loops over the output pixels,
 * reading and writing the backends' own buffers (the wasm heap, the cpu typed arrays) with no copies.
 *
 * Semantics (identical to the gather path): for output pixel (i, j) of batch element b with map
 * [a, b, c, d, e, f], the continuous source position is (a y + b x + c, d y + e x + f) at the pixel
 * centre (y, x) = (i + 0.5, j + 0.5); source pixel k covers [k, k+1). The value is the bilinear blend
 * of the 4 pixels around it, each tap outside the image reading the constant `fill`. The gradient
 * flows to the image only (the maps are numbers, not tensors).
 */
import * as tf from '@tensorflow/tfjs-core';
import { NamedAttrMap, registerGradient, TensorInfo } from '@tensorflow/tfjs-core';
import type { Affine } from './transforms';
import { registerLoopKernel } from '../backend/loopkernel';

export const AFFINE_SAMPLE = 'NeuronLensAffineSample';
export const AFFINE_SAMPLE_GRAD = 'NeuronLensAffineSampleGrad';

/** Backends that have the kernels of this module. */
export const AFFINE_SAMPLE_BACKENDS: readonly string[] = ['wasm', 'cpu'];

/** Attributes of both kernels. */
interface SampleAttrs {
  /** The maps, 6 numbers per batch element, concatenated. */
  affines: number[];
  /** [height, width] of the output. */
  outSize: [number, number];
  /** [height, width] of the image (the gradient needs it; the forward checks it). */
  inSize: [number, number];
  fill: number;
}

/** Sizes: batch, image height/width, channels, output height/width. */
export type Geometry = { b: number; h: number; w: number; c: number; oh: number; ow: number };

/** Per-row scratch: the 4 taps of each output pixel of one row. */
interface RowTaps {
  /** Offsets of taps 00, 01, 10, 11 in the image (times C), or -1 for a tap outside the image. */
  idx: Int32Array;
  /** Bilinear weights of the 4 taps. */
  wts: Float64Array;
  /** Weight of the fill value: the sum of the weights of the taps outside. */
  wf: Float64Array;
}

function rowScratch(ow: number): RowTaps {
  return { idx: new Int32Array(4 * ow), wts: new Float64Array(4 * ow), wf: new Float64Array(ow) };
}

/** Fills `t` with the taps of output row `i` of batch element `bi` under map `m`. */
function rowTaps(g: Geometry, m: readonly number[], bi: number, i: number, t: RowTaps): void {
  const { h, w, c, ow } = g;
  const { idx, wts, wf } = t;
  const ay = m[6 * bi];
  const by = m[6 * bi + 1];
  const cy = m[6 * bi + 2];
  const ax = m[6 * bi + 3];
  const bx = m[6 * bi + 4];
  const cx = m[6 * bi + 5];
  const base = bi * h * w;
  const yo = i + 0.5;
  for (let j = 0; j < ow; j++) {
    const xo = j + 0.5;
    // As in the gather path: positions in the image padded by one pixel, whose pixel k+1 holds
    // source pixel k; the taps are padded rows y0, y0+1 and columns x0, x0+1.
    const sy = ay * yo + by * xo + cy + 0.5;
    const sx = ax * yo + bx * xo + cx + 0.5;
    const y0 = Math.floor(sy);
    const x0 = Math.floor(sx);
    const fy = sy - y0;
    const fx = sx - x0;
    // Source rows r0 = y0-1, r1 = y0 and columns q0 = x0-1, q1 = x0 of the taps.
    const r0 = y0 - 1;
    const q0 = x0 - 1;
    const inR0 = r0 >= 0 && r0 < h;
    const inR1 = y0 >= 0 && y0 < h;
    const inQ0 = q0 >= 0 && q0 < w;
    const inQ1 = x0 >= 0 && x0 < w;
    const k = 4 * j;
    wts[k] = (1 - fy) * (1 - fx);
    wts[k + 1] = (1 - fy) * fx;
    wts[k + 2] = fy * (1 - fx);
    wts[k + 3] = fy * fx;
    idx[k] = inR0 && inQ0 ? (base + r0 * w + q0) * c : -1;
    idx[k + 1] = inR0 && inQ1 ? (base + r0 * w + x0) * c : -1;
    idx[k + 2] = inR1 && inQ0 ? (base + y0 * w + q0) * c : -1;
    idx[k + 3] = inR1 && inQ1 ? (base + y0 * w + x0) * c : -1;
    let f = 0;
    for (let t = 0; t < 4; t++) if (idx[k + t] < 0) f += wts[k + t];
    wf[j] = f;
  }
}

/** out[B, oh, ow, C] = the bilinear samples of x[B, h, w, C]. Writes every element of `out`. */
export function affineSampleForward(x: ArrayLike<number>, g: Geometry, affines: readonly number[], fill: number, out: Float32Array): void {
  const { b, c, oh, ow } = g;
  const t = rowScratch(ow);
  const { idx, wts, wf } = t;
  let o = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let i = 0; i < oh; i++) {
      rowTaps(g, affines, bi, i, t);
      for (let j = 0; j < ow; j++, o += c) {
        const k = 4 * j;
        const p00 = idx[k];
        const p01 = idx[k + 1];
        const p10 = idx[k + 2];
        const p11 = idx[k + 3];
        const w00 = wts[k];
        const w01 = wts[k + 1];
        const w10 = wts[k + 2];
        const w11 = wts[k + 3];
        if (p00 >= 0 && p01 >= 0 && p10 >= 0 && p11 >= 0) {
          for (let ch = 0; ch < c; ch++) out[o + ch] = w00 * x[p00 + ch] + w01 * x[p01 + ch] + w10 * x[p10 + ch] + w11 * x[p11 + ch];
          continue;
        }
        const f = wf[j] * fill;
        for (let ch = 0; ch < c; ch++) {
          let v = f;
          if (p00 >= 0) v += w00 * x[p00 + ch];
          if (p01 >= 0) v += w01 * x[p01 + ch];
          if (p10 >= 0) v += w10 * x[p10 + ch];
          if (p11 >= 0) v += w11 * x[p11 + ch];
          out[o + ch] = v;
        }
      }
    }
  }
}

/** dx[B, h, w, C] = the transpose of the sampling applied to dy[B, oh, ow, C]. Overwrites `dx`. */
export function affineSampleBackward(dy: ArrayLike<number>, g: Geometry, affines: readonly number[], dx: Float32Array): void {
  const { b, c, oh, ow } = g;
  const t = rowScratch(ow);
  const { idx, wts } = t;
  dx.fill(0);
  let o = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let i = 0; i < oh; i++) {
      rowTaps(g, affines, bi, i, t);
      for (let j = 0; j < ow; j++, o += c) {
        for (let tap = 4 * j; tap < 4 * j + 4; tap++) {
          const p = idx[tap];
          if (p < 0) continue;
          const wt = wts[tap];
          for (let ch = 0; ch < c; ch++) dx[p + ch] += wt * dy[o + ch];
        }
      }
    }
  }
}

function geometry(kernel: string, t: TensorInfo, attrs: SampleAttrs, isGrad: boolean): Geometry {
  if (t.dtype !== 'float32') throw new Error(`${kernel}: input must be float32, got ${t.dtype}`);
  if (t.shape.length !== 4) throw new Error(`${kernel}: input must be rank 4 [B,H,W,C], got shape [${t.shape}]`);
  const [b, th, tw, c] = t.shape;
  const [h, w] = attrs.inSize;
  const [oh, ow] = attrs.outSize;
  const [eh, ew] = isGrad ? [oh, ow] : [h, w];
  if (th !== eh || tw !== ew) throw new Error(`${kernel}: input is ${th}x${tw}, attributes say ${eh}x${ew}`);
  if (attrs.affines.length !== 6 * b) throw new Error(`${kernel}: ${attrs.affines.length / 6} maps for a batch of ${b}`);
  return { b, h, w, c, oh, ow };
}

function input(kernel: string, inputs: Record<string, TensorInfo | undefined>, name: string): TensorInfo {
  const t = inputs[name];
  if (!t) throw new Error(`${kernel}: missing input '${name}'`);
  return t;
}

function attrsOf(a: NamedAttrMap): SampleAttrs {
  return a as unknown as SampleAttrs;
}

/** The geometry as the oneDNN addon's loops take it (they do the same arithmetic, in C++, on all cores). */
function nativeParams(g: Geometry): Int32Array {
  return new Int32Array([g.b, g.h, g.w, g.c, g.oh, g.ow]);
}

registerLoopKernel(AFFINE_SAMPLE, (inputs, attrs) => {
  const a = attrsOf(attrs);
  const x = input(AFFINE_SAMPLE, inputs, 'image');
  const g = geometry(AFFINE_SAMPLE, x, a, false);
  return {
    inputs: [x],
    shape: [g.b, g.oh, g.ow, g.c],
    run: ([xv], out, native) => (native
      ? native.affineSample(xv, out, Float64Array.from(a.affines), nativeParams(g), a.fill)
      : affineSampleForward(xv, g, a.affines, a.fill, out)),
  };
});

registerLoopKernel(AFFINE_SAMPLE_GRAD, (inputs, attrs) => {
  const a = attrsOf(attrs);
  const dy = input(AFFINE_SAMPLE_GRAD, inputs, 'dy');
  const g = geometry(AFFINE_SAMPLE_GRAD, dy, a, true);
  return {
    inputs: [dy],
    shape: [g.b, g.h, g.w, g.c],
    run: ([dyv], dx, native) => (native
      ? native.affineSampleGrad(dyv, dx, Float64Array.from(a.affines), nativeParams(g))
      : affineSampleBackward(dyv, g, a.affines, dx)),
  };
});

registerGradient({
  kernelName: AFFINE_SAMPLE,
  gradFunc: (dy, _saved, attrs) => ({
    image: () => tf.engine().runKernel(AFFINE_SAMPLE_GRAD, { dy: dy as tf.Tensor }, attrs) as tf.Tensor,
  }),
});

/**
 * Bilinear sampling of `img` [B,H,W,C] (float32) at the affine maps (one per batch element) onto
 * `outSize`, taps outside the image reading `fill`; differentiable with respect to `img`. Runs the
 * kernels of this module, so only on the backends in {@link AFFINE_SAMPLE_BACKENDS}.
 */
export function affineSample(img: tf.Tensor4D, affines: readonly Affine[], outSize: readonly [number, number], fill: number): tf.Tensor4D {
  const backend = tf.getBackend();
  if (!AFFINE_SAMPLE_BACKENDS.includes(backend)) {
    throw new Error(`affineSample: no ${AFFINE_SAMPLE} kernel on backend '${backend}' (have: ${AFFINE_SAMPLE_BACKENDS.join(', ')})`);
  }
  const [, h, w] = img.shape;
  const attrs: SampleAttrs = { affines: affines.flat(), outSize: [outSize[0], outSize[1]], inSize: [h, w], fill };
  return tf.engine().runKernel(AFFINE_SAMPLE, { image: img }, attrs as unknown as NamedAttrMap) as tf.Tensor4D;
}
