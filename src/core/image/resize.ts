import { checkImage, createImage, RGBImage, sizeText } from './image';

/**
 * 'smooth': area averaging when an axis shrinks (each output pixel is the exact mean of the source area it
 * covers, so downscaling is antialiased) and bilinear interpolation (half-pixel centres, edge clamped) when
 * it grows. 'nearest': nearest neighbour on both (crisp pixel blocks when tiles are blown up).
 */
export type ResizeMethod = 'smooth' | 'nearest';

interface AxisWeights {
  start: Int32Array; // first source index per output index
  count: Int32Array; // number of taps per output index
  weights: Float64Array[]; // taps per output index
}

function axisWeights(inSize: number, outSize: number, method: ResizeMethod): AxisWeights {
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    if (method === 'nearest') {
      start[o] = Math.min(inSize - 1, Math.floor((o + 0.5) * scale));
      count[o] = 1;
      weights.push(Float64Array.of(1));
    } else if (outSize < inSize) {
      const lo = o * scale;
      const hi = (o + 1) * scale;
      const first = Math.floor(lo);
      const last = Math.min(inSize - 1, Math.ceil(hi) - 1);
      const w = new Float64Array(last - first + 1);
      for (let i = first; i <= last; i++) w[i - first] = (Math.min(hi, i + 1) - Math.max(lo, i)) / scale;
      start[o] = first;
      count[o] = w.length;
      weights.push(w);
    } else {
      const x = Math.min(inSize - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const i0 = Math.floor(x);
      const f = x - i0;
      if (f === 0 || i0 === inSize - 1) {
        start[o] = i0;
        count[o] = 1;
        weights.push(Float64Array.of(1));
      } else {
        start[o] = i0;
        count[o] = 2;
        weights.push(Float64Array.of(1 - f, f));
      }
    }
  }
  return { start, count, weights };
}

/** Resizes to height x width (separable: rows, then columns); channels unchanged. */
export function resizeImage(img: RGBImage, height: number, width: number, method: ResizeMethod = 'smooth'): RGBImage {
  checkImage(img, 'resizeImage input');
  const out = createImage(height, width, img.channels);
  const c = img.channels;
  const wx = axisWeights(img.width, width, method);
  const wy = axisWeights(img.height, height, method);
  // Horizontal pass: img.height x width.
  const tmp = new Float32Array(img.height * width * c);
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width * c;
    for (let x = 0; x < width; x++) {
      const s = wx.start[x];
      const w = wx.weights[x];
      for (let ch = 0; ch < c; ch++) {
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k] * img.data[row + (s + k) * c + ch];
        tmp[(y * width + x) * c + ch] = acc;
      }
    }
  }
  // Vertical pass.
  const rowLen = width * c;
  for (let y = 0; y < height; y++) {
    const s = wy.start[y];
    const w = wy.weights[y];
    const dst = y * rowLen;
    for (let k = 0; k < w.length; k++) {
      const src = (s + k) * rowLen;
      const wk = w[k];
      for (let i = 0; i < rowLen; i++) out.data[dst + i] += wk * tmp[src + i];
    }
  }
  return out;
}

/** Rec. 601 luma weights (as PIL's RGB -> 'L'). */
export const LUMA_WEIGHTS = [0.299, 0.587, 0.114] as const;

/** 1 -> 3 replicates gray; 3 -> 1 takes luma (LUMA_WEIGHTS); same count is a copy. Others are errors. */
export function convertChannels(img: RGBImage, channels: number): RGBImage {
  checkImage(img, 'convertChannels input');
  const n = img.width * img.height;
  if (img.channels === channels) return { ...img, data: img.data.slice() };
  const out = createImage(img.height, img.width, channels);
  if (img.channels === 1 && channels === 3) {
    for (let p = 0; p < n; p++) out.data[3 * p] = out.data[3 * p + 1] = out.data[3 * p + 2] = img.data[p];
  } else if (img.channels === 3 && channels === 1) {
    const [r, g, b] = LUMA_WEIGHTS;
    for (let p = 0; p < n; p++) out.data[p] = r * img.data[3 * p] + g * img.data[3 * p + 1] + b * img.data[3 * p + 2];
  } else {
    throw new Error(`cannot convert a ${img.channels}-channel image to ${channels} channels (only 1 <-> 3)`);
  }
  return out;
}

/**
 * Prepares a photo for a model input of height x width x channels: centre crop to the input's aspect ratio,
 * 'smooth' resize (area averaging down, bilinear up), then channel conversion (RGB -> gray by Rec. 601 luma,
 * gray -> RGB by replication). `note` says what was done, e.g.
 * "centre-cropped 512x384 -> 384x384, resized to 224x224".
 */
export function fitToInput(img: RGBImage, height: number, width: number, channels: number): { image: RGBImage; note: string } {
  checkImage(img, 'fitToInput input');
  for (const [name, v] of [['height', height], ['width', width], ['channels', channels]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`fitToInput: model input ${name} must be a positive integer, got ${v}`);
  }
  const notes: string[] = [];
  // Crop size with the target aspect (width/height), as large as fits.
  let cw = img.width;
  let ch = img.height;
  if (img.width * height > img.height * width) cw = Math.max(1, Math.round((img.height * width) / height));
  else if (img.width * height < img.height * width) ch = Math.max(1, Math.round((img.width * height) / width));
  let cur = img;
  if (cw !== img.width || ch !== img.height) {
    cur = crop(img, Math.floor((img.width - cw) / 2), Math.floor((img.height - ch) / 2), cw, ch);
    notes.push(`centre-cropped ${sizeText(img.width, img.height)} -> ${sizeText(cw, ch)}`);
  }
  if (cw !== width || ch !== height) {
    cur = resizeImage(cur, height, width, 'smooth');
    notes.push(`resized to ${sizeText(width, height)}`);
  }
  if (cur.channels !== channels) {
    const what = cur.channels === 3 && channels === 1 ? 'RGB -> gray (luma)' : cur.channels === 1 && channels === 3 ? 'gray -> RGB' : '';
    cur = convertChannels(cur, channels);
    notes.push(what);
  }
  if (cur === img) cur = { ...img, data: img.data.slice() };
  return { image: cur, note: notes.length ? notes.join(', ') : `used as is (${sizeText(width, height)})` };
}

/** The width x height rectangle at (x0, y0). */
export function crop(img: RGBImage, x0: number, y0: number, width: number, height: number): RGBImage {
  checkImage(img, 'crop input');
  if (x0 < 0 || y0 < 0 || x0 + width > img.width || y0 + height > img.height) {
    throw new Error(`crop ${width}x${height} at (${x0}, ${y0}) is outside the ${sizeText(img.width, img.height)} image`);
  }
  const out = createImage(height, width, img.channels);
  const c = img.channels;
  for (let y = 0; y < height; y++) {
    const src = ((y0 + y) * img.width + x0) * c;
    out.data.set(img.data.subarray(src, src + width * c), y * width * c);
  }
  return out;
}
