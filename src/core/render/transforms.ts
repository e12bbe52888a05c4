import * as tf from '@tensorflow/tfjs-core';
import { Rng } from './rng';
import { AFFINE_SAMPLE_BACKENDS, affineSample } from './sampler';

/**
 * Robustness transforms applied to the image at every optimization step (Lucid `optvis/transform`).
 *
 * The whole chain (pad, jitter, scale, rotate, ..., then the resize to the model input) is composed
 * into ONE affine map per batch element, from output pixel to source position, and the image is
 * sampled once, bilinearly (TF.js has no gradient for image.transform, rotateWithOffset or
 * cropAndResize): with the project's sampler kernels on wasm and cpu (./sampler.ts), with a single
 * `tf.gather` elsewhere. Sampling once is sharper than Lucid's chain of resamplings and cheaper.
 * Coordinates are continuous with pixel i covering [i, i+1)
 * (half-pixel centres, as `resizeBilinear(..., halfPixelCenters=true)`), and everything outside the
 * source image reads the constant {@link FILL_VALUE} = 0.5: that is the pad value of Lucid's standard
 * set, and also what rotation brings in at the corners (Lucid's tfa rotate fills 0 there instead).
 *
 * Per stage, for the current size H x W:
 * - `pad` p: size + 2p, the border is 0.5 (Lucid `pad(p, mode='constant', constant_value=0.5)`).
 * - `jitter` d: a random crop to (H-d) x (W-d); row and column offsets each uniform in 0..d (Lucid `jitter`).
 * - `scale` s from a list: resize to floor(sH) x floor(sW) (Lucid `random_scale`).
 * - `rotate` a degrees from a list: about the image centre, counter-clockwise as displayed for a > 0,
 *   same size (Lucid `random_rotate`, which uses 3.14 for pi; this uses Math.PI).
 * Random draws come from the given {@link Rng}: for each batch element in turn, for each stage in order.
 */
export type TransformSpec =
  | { kind: 'pad'; size: number }
  | { kind: 'jitter'; max: number }
  | { kind: 'scale'; scales: number[] }
  | { kind: 'rotate'; degrees: number[] };

/** Value read outside the source image (the pad colour). */
export const FILL_VALUE = 0.5;

/** Lucid's `standard_transforms`. */
export const STANDARD_TRANSFORMS: readonly TransformSpec[] = Object.freeze([
  { kind: 'pad', size: 12 },
  { kind: 'jitter', max: 8 },
  { kind: 'scale', scales: Array.from({ length: 11 }, (_, i) => 1 + (i - 5) / 50) },
  { kind: 'rotate', degrees: [...Array.from({ length: 21 }, (_, i) => i - 10), 0, 0, 0, 0, 0] },
  { kind: 'jitter', max: 4 },
] as TransformSpec[]);

const SPEC_HELP = "expected 'standard', 'none', or a comma list like 'pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4'";

function parseNumber(text: string, what: string, whole: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) {
    throw new Error(`--transforms: ${what} must be a number, got '${text}' in '${whole}' (${SPEC_HELP})`);
  }
  return Number(text);
}

function parseInteger(text: string, what: string, whole: string, max: number): number {
  const v = parseNumber(text, what, whole);
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new Error(`--transforms: ${what} must be an integer in 0..${max}, got '${text}' in '${whole}'`);
  }
  return v;
}

/**
 * Parses the `--transforms` flag: `standard` (Lucid's set), `none` (only the resize to the model
 * input), or a comma list of `pad:N`, `jitter:N`, `scale:LO-HI` (11 evenly spaced factors, as in the
 * standard set) or `scale:S`, `rotate:D` (whole degrees -D..D). Throws an Error naming the bad part.
 */
export function parseTransforms(spec: string): TransformSpec[] {
  const s = spec.trim();
  if (s === 'standard') return STANDARD_TRANSFORMS.map((t) => ({ ...t }) as TransformSpec);
  if (s === 'none') return [];
  if (s === '') throw new Error(`--transforms: empty value (${SPEC_HELP})`);
  return s.split(',').map((raw) => {
    const part = raw.trim();
    const m = /^([a-z]+):(.+)$/.exec(part);
    if (!m) throw new Error(`--transforms: cannot read '${part}' in '${spec}' (${SPEC_HELP})`);
    const [, name, arg] = m;
    switch (name) {
      case 'pad':
        return { kind: 'pad', size: parseInteger(arg, 'pad size', part, 4096) };
      case 'jitter':
        return { kind: 'jitter', max: parseInteger(arg, 'jitter', part, 4096) };
      case 'scale': {
        const bounds = arg.split('-');
        if (bounds.length > 2) throw new Error(`--transforms: scale must be 'LO-HI' or one factor, got '${part}'`);
        const [lo, hi] = bounds.map((b) => parseNumber(b, 'scale factor', part));
        const top = hi ?? lo;
        if (!(lo > 0) || !(top >= lo) || top > 16) {
          throw new Error(`--transforms: scale needs 0 < LO <= HI <= 16, got '${part}'`);
        }
        const scales = top === lo ? [lo] : Array.from({ length: 11 }, (_, i) => lo + ((top - lo) * i) / 10);
        return { kind: 'scale', scales };
      }
      case 'rotate': {
        const d = parseInteger(arg, 'rotate (max degrees)', part, 180);
        return { kind: 'rotate', degrees: Array.from({ length: 2 * d + 1 }, (_, i) => i - d) };
      }
      default:
        throw new Error(`--transforms: unknown transform '${name}' in '${part}' (known: pad, jitter, scale, rotate)`);
    }
  });
}

/**
 * [a, b, c, d, e, f]: source (y, x) = (a y' + b x' + c, d y' + e x' + f), continuous coordinates,
 * (y', x') in the output.
 */
export type Affine = [number, number, number, number, number, number];

/** One batch element's draws and the composed map. */
export interface TransformPlan {
  affine: Affine;
  /** What was drawn, per stage in order: jitter `[dy, dx]`, scale factor, rotation in degrees; pad `null`. */
  draws: (number | [number, number] | null)[];
}

type M3 = [number, number, number, number, number, number]; // top two rows of a 3x3 affine

function compose(p: M3, q: M3): M3 {
  // (p . q)(v) = p(q(v))
  return [
    p[0] * q[0] + p[1] * q[3],
    p[0] * q[1] + p[1] * q[4],
    p[0] * q[2] + p[1] * q[5] + p[2],
    p[3] * q[0] + p[4] * q[3],
    p[3] * q[1] + p[4] * q[4],
    p[3] * q[2] + p[4] * q[5] + p[5],
  ];
}

function checkSize(what: string, size: readonly number[]): void {
  if (size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`transforms: ${what} must be [height, width] positive integers, got [${size}]`);
  }
}

function checkSpec(s: TransformSpec, i: number): void {
  const bad = (what: string) => new Error(`transforms: stage ${i} (${s.kind}) ${what}`);
  switch (s.kind) {
    case 'pad':
      if (!Number.isInteger(s.size) || s.size < 0) throw bad(`size must be an integer >= 0, got ${s.size}`);
      return;
    case 'jitter':
      if (!Number.isInteger(s.max) || s.max < 0) throw bad(`max must be an integer >= 0, got ${s.max}`);
      return;
    case 'scale':
      if (s.scales.length === 0 || !s.scales.every((f) => Number.isFinite(f) && f > 0)) {
        throw bad(`needs a non-empty list of factors > 0, got [${s.scales}]`);
      }
      return;
    case 'rotate':
      if (s.degrees.length === 0 || !s.degrees.every(Number.isFinite)) throw bad(`needs a non-empty list of angles, got [${s.degrees}]`);
      return;
    default:
      throw new Error(`transforms: stage ${i} has unknown kind '${(s as { kind: string }).kind}'`);
  }
}

/**
 * Draws the random parameters for each of `batch` elements and composes each chain, ending with the
 * resize from the last stage's size to `outSize`, into an affine map from output to source coordinates.
 */
export function planTransforms(
  specs: readonly TransformSpec[],
  rng: Rng,
  batch: number,
  inSize: readonly [number, number],
  outSize: readonly [number, number],
): TransformPlan[] {
  checkSize('input size', inSize);
  checkSize('output size', outSize);
  specs.forEach(checkSpec);
  const plans: TransformPlan[] = [];
  for (let b = 0; b < batch; b++) {
    let [h, w] = inSize;
    let t: M3 = [1, 0, 0, 0, 1, 0];
    const draws: TransformPlan['draws'] = [];
    for (const s of specs) {
      switch (s.kind) {
        case 'pad':
          t = compose(t, [1, 0, -s.size, 0, 1, -s.size]);
          h += 2 * s.size;
          w += 2 * s.size;
          draws.push(null);
          break;
        case 'jitter': {
          if (s.max >= h || s.max >= w) {
            throw new Error(`transforms: jitter ${s.max} needs an image larger than that, the image is ${h}x${w} at that stage`);
          }
          const dy = rng.int(s.max + 1);
          const dx = rng.int(s.max + 1);
          t = compose(t, [1, 0, dy, 0, 1, dx]);
          h -= s.max;
          w -= s.max;
          draws.push([dy, dx]);
          break;
        }
        case 'scale': {
          const f = rng.choice(s.scales);
          const nh = Math.max(1, Math.floor(f * h));
          const nw = Math.max(1, Math.floor(f * w));
          t = compose(t, [h / nh, 0, 0, 0, w / nw, 0]);
          h = nh;
          w = nw;
          draws.push(f);
          break;
        }
        case 'rotate': {
          const deg = rng.choice(s.degrees);
          const a = (deg * Math.PI) / 180;
          const [cos, sin] = [Math.cos(a), Math.sin(a)];
          const [cy, cx] = [h / 2, w / 2];
          // source offset from the centre = R(-a) applied to the output offset (y down, CCW as displayed):
          // dy = cos*dy' + sin*dx', dx = -sin*dy' + cos*dx'
          t = compose(t, [cos, sin, cy - cos * cy - sin * cx, -sin, cos, cx + sin * cy - cos * cx]);
          draws.push(deg);
          break;
        }
      }
    }
    t = compose(t, [h / outSize[0], 0, 0, 0, w / outSize[1], 0]);
    plans.push({ affine: t, draws });
  }
  return plans;
}

function checkSampleArgs(img: tf.Tensor4D, affines: readonly Affine[], outSize: readonly [number, number]): void {
  checkSize('output size', outSize);
  if (img.rank !== 4) throw new Error(`sampleAffine: the image must be [B,H,W,C], got shape [${img.shape}]`);
  if (img.dtype !== 'float32') throw new Error(`sampleAffine: the image must be float32, got ${img.dtype}`);
  const b = img.shape[0];
  if (affines.length !== b) throw new Error(`sampleAffine: ${affines.length} maps for a batch of ${b}`);
  affines.forEach((a, i) => {
    if (a.length !== 6 || !a.every(Number.isFinite)) throw new Error(`sampleAffine: map ${i} must be 6 finite numbers, got [${a}]`);
  });
}

/**
 * Bilinear sampling of `img` [B,H,W,C] (float32) at the affine maps (one per batch element) onto
 * `outSize`; outside the image reads {@link FILL_VALUE}. Differentiable with respect to `img`.
 * On `wasm` and `cpu` it runs the project's sampler kernels (./sampler.ts, plain loops, a few ms at
 * 224x224); on other backends the gather formulation {@link sampleAffineGather}. Both give the same
 * values.
 */
export function sampleAffine(img: tf.Tensor4D, affines: readonly Affine[], outSize: readonly [number, number]): tf.Tensor4D {
  checkSampleArgs(img, affines, outSize);
  if (AFFINE_SAMPLE_BACKENDS.includes(tf.getBackend())) return affineSample(img, affines, outSize, FILL_VALUE);
  return sampleAffineGather(img, affines, outSize);
}

/**
 * {@link sampleAffine} as standard TF.js ops, for any backend: one pad, one gather, a weighted sum;
 * the gather's gradient is `UnsortedSegmentSum`. Slow on wasm and cpu.
 */
export function sampleAffineGather(img: tf.Tensor4D, affines: readonly Affine[], outSize: readonly [number, number]): tf.Tensor4D {
  checkSampleArgs(img, affines, outSize);
  const [b, h, w, c] = img.shape;
  const [oh, ow] = outSize;
  const n = b * oh * ow;
  const ph = h + 2;
  const pw = w + 2;
  const idx = new Int32Array(4 * n);
  const wts = new Float32Array(4 * n);
  let o = 0;
  for (let bi = 0; bi < b; bi++) {
    const [ay, by, cy, ax, bx, cx] = affines[bi];
    const base = bi * ph * pw;
    for (let i = 0; i < oh; i++) {
      const yo = i + 0.5;
      for (let j = 0; j < ow; j++, o++) {
        const xo = j + 0.5;
        // Index space of the 1-pixel padded image: pixel centre k+0.5 of the source is index k+1.
        const sy = ay * yo + by * xo + cy + 0.5;
        const sx = ax * yo + bx * xo + cx + 0.5;
        const y0 = Math.floor(sy);
        const x0 = Math.floor(sx);
        const fy = sy - y0;
        const fx = sx - x0;
        const ya = Math.min(Math.max(y0, 0), ph - 1);
        const yb = Math.min(Math.max(y0 + 1, 0), ph - 1);
        const xa = Math.min(Math.max(x0, 0), pw - 1);
        const xb = Math.min(Math.max(x0 + 1, 0), pw - 1);
        idx[o] = base + ya * pw + xa;
        idx[n + o] = base + ya * pw + xb;
        idx[2 * n + o] = base + yb * pw + xa;
        idx[3 * n + o] = base + yb * pw + xb;
        wts[o] = (1 - fy) * (1 - fx);
        wts[n + o] = (1 - fy) * fx;
        wts[2 * n + o] = fy * (1 - fx);
        wts[3 * n + o] = fy * fx;
      }
    }
  }
  return tf.tidy(() => {
    const padded = tf.pad(img, [[0, 0], [1, 1], [1, 1], [0, 0]], FILL_VALUE);
    const flat = tf.reshape(padded, [b * ph * pw, c]);
    const g = tf.reshape(tf.gather(flat, tf.tensor1d(idx, 'int32')), [4, n, c]);
    const out = tf.sum(tf.mul(g, tf.tensor3d(wts, [4, n, 1])), 0);
    return tf.reshape(out, [b, oh, ow, c]) as tf.Tensor4D;
  });
}

/**
 * Applies `specs` with fresh random draws for every batch element, then resizes to `outSize` (the
 * model input), all in one bilinear sampling. Differentiable with respect to `img`.
 */
export function applyTransforms(
  img: tf.Tensor4D,
  specs: readonly TransformSpec[],
  rng: Rng,
  outSize: readonly [number, number],
): tf.Tensor4D {
  const [b, h, w] = img.shape;
  const plans = planTransforms(specs, rng, b, [h, w], outSize);
  return sampleAffine(
    img,
    plans.map((p) => p.affine),
    outSize,
  );
}
