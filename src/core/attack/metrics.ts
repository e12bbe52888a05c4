// Image-distance metrics of an adversarial example against its original, on the [0,1] pixel scale, and
// the 8-bit projection that keeps a saved PNG inside the L-infinity ball. Plain TypeScript, float64.
import { checkImage, type RGBImage } from '../image';

function checkPair(a: RGBImage, b: RGBImage, what: string): void {
  checkImage(a, `${what}: first image`);
  checkImage(b, `${what}: second image`);
  if (a.width !== b.width || a.height !== b.height || a.channels !== b.channels) {
    throw new Error(`${what}: images differ in size (${a.width}x${a.height}x${a.channels} vs ${b.width}x${b.height}x${b.channels})`);
  }
}

/** max |a - b| over every pixel and channel. */
export function linfDistance(a: RGBImage, b: RGBImage): number {
  checkPair(a, b, 'linfDistance');
  let m = 0;
  for (let i = 0; i < a.data.length; i++) m = Math.max(m, Math.abs(a.data[i] - b.data[i]));
  return m;
}

/** sqrt(sum (a - b)^2) over every pixel and channel (not divided by the pixel count). */
export function l2Distance(a: RGBImage, b: RGBImage): number {
  checkPair(a, b, 'l2Distance');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) { const d = a.data[i] - b.data[i]; s += d * d; }
  return Math.sqrt(s);
}

/**
 * Anisotropic total variation of d = a - b, summed (not averaged) over pixels and channels:
 * sum_{y,x,c} |d[y+1,x,c] - d[y,x,c]| + |d[y,x+1,c] - d[y,x,c]| (the same definition as the TV penalty of
 * the attack loss and `tf.image.total_variation`).
 */
export function tvDistance(a: RGBImage, b: RGBImage): number {
  checkPair(a, b, 'tvDistance');
  const { width: W, height: H, channels: C } = a;
  const d = (y: number, x: number, c: number) => { const i = (y * W + x) * C + c; return a.data[i] - b.data[i]; };
  let tv = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < C; c++) {
        const v = d(y, x, c);
        if (y + 1 < H) tv += Math.abs(d(y + 1, x, c) - v);
        if (x + 1 < W) tv += Math.abs(d(y, x + 1, c) - v);
      }
    }
  }
  return tv;
}

/** PSNR in dB for data range 1: 10 log10(1 / MSE), MSE over every pixel and channel; Infinity if equal. */
export function psnr(a: RGBImage, b: RGBImage): number {
  checkPair(a, b, 'psnr');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) { const d = a.data[i] - b.data[i]; s += d * d; }
  const mse = s / a.data.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/** Normalized 1-D Gaussian taps of odd length `size`. */
function gaussian(size: number, sigma: number): Float64Array {
  const g = new Float64Array(size);
  const r = (size - 1) / 2;
  let s = 0;
  for (let i = 0; i < size; i++) { g[i] = Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)); s += g[i]; }
  for (let i = 0; i < size; i++) g[i] /= s;
  return g;
}

/** 'valid' separable filtering of an H x W plane with taps g: (H-k+1) x (W-k+1). */
function filterValid(p: Float64Array, H: number, W: number, g: Float64Array): Float64Array {
  const k = g.length;
  const W2 = W - k + 1;
  const H2 = H - k + 1;
  const tmp = new Float64Array(H * W2);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W2; x++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += g[t] * p[y * W + x + t];
      tmp[y * W2 + x] = s;
    }
  }
  const out = new Float64Array(H2 * W2);
  for (let y = 0; y < H2; y++) {
    for (let x = 0; x < W2; x++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += g[t] * tmp[(y + t) * W2 + x];
      out[y * W2 + x] = s;
    }
  }
  return out;
}

export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;

/**
 * SSIM (Wang, Bovik, Sheikh, Simoncelli 2004) for images in [0,1]: an 11x11 Gaussian window with sigma
 * 1.5, K1 = 0.01, K2 = 0.03, data range 1, population (biased) variances, the SSIM map over every
 * position where the window fits entirely ('valid', as the authors' ssim_index.m and scikit-image's
 * gaussian_weights=True), averaged over positions, then over channels. Images smaller than 11 pixels on a
 * side use the largest odd window that fits.
 */
export function ssim(a: RGBImage, b: RGBImage): number {
  checkPair(a, b, 'ssim');
  const { width: W, height: H, channels: C } = a;
  let k = Math.min(SSIM_WINDOW, H, W);
  if (k % 2 === 0) k--;
  const g = gaussian(k, SSIM_SIGMA);
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const n = H * W;
  let total = 0;
  for (let c = 0; c < C; c++) {
    const x = new Float64Array(n); const y = new Float64Array(n);
    const xx = new Float64Array(n); const yy = new Float64Array(n); const xy = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const u = a.data[i * C + c]; const v = b.data[i * C + c];
      x[i] = u; y[i] = v; xx[i] = u * u; yy[i] = v * v; xy[i] = u * v;
    }
    const [mx, my, mxx, myy, mxy] = [x, y, xx, yy, xy].map((p) => filterValid(p, H, W, g));
    let s = 0;
    for (let i = 0; i < mx.length; i++) {
      const vx = mxx[i] - mx[i] * mx[i];
      const vy = myy[i] - my[i] * my[i];
      const cxy = mxy[i] - mx[i] * my[i];
      s += ((2 * mx[i] * my[i] + C1) * (2 * cxy + C2)) / ((mx[i] * mx[i] + my[i] * my[i] + C1) * (vx + vy + C2));
    }
    total += s / mx.length;
  }
  return total / C;
}

/** Largest whole number of 8-bit levels inside an L-infinity radius epsilon (on the [0,1] scale). */
export function levelsInBall(epsilon: number): number {
  return Math.floor(epsilon * 255 + 1e-6);
}

/**
 * Projects an image in [0,1] onto the 8-bit grid inside the L-infinity ball of radius epsilon around an
 * 8-bit original: round to the nearest level, and where that level would leave the ball, take the last
 * level inside it (rounding toward the original). |result - original| <= levelsInBall(epsilon) exactly.
 */
export function quantizeInBall(adv: RGBImage, original: Uint8Array, epsilon: number): Uint8Array {
  checkImage(adv, 'quantizeInBall');
  if (original.length !== adv.data.length) throw new Error(`quantizeInBall: original has ${original.length} values, image ${adv.data.length}`);
  const m = levelsInBall(epsilon);
  const out = new Uint8Array(original.length);
  for (let i = 0; i < out.length; i++) {
    const v = adv.data[i];
    if (!Number.isFinite(v)) throw new Error(`quantizeInBall: non-finite value ${v} at index ${i}`);
    const k = Math.round(Math.min(1, Math.max(0, v)) * 255);
    const o = original[i];
    out[i] = Math.min(Math.max(k, o - m, 0), o + m, 255);
  }
  return out;
}

export interface ClassProb {
  index: number;
  /** First synonym of the class name, when the model has names. */
  name?: string;
  prob: number;
}

/** Softmax (float64) of one row of logits. */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const p = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < logits.length; i++) { p[i] = Math.exp(logits[i] - max); s += p[i]; }
  for (let i = 0; i < p.length; i++) p[i] /= s;
  return p;
}

/** The k most probable classes, highest first (ties by lower index). */
export function topK(probs: ArrayLike<number>, k: number, names?: string[]): ClassProb[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b] - probs[a] || a - b);
  return idx.slice(0, k).map((index) => ({ index, name: names?.[index]?.split(',')[0].trim(), prob: probs[index] }));
}
