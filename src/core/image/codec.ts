import { readRegular } from '../util/fs';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { checkImage, RGBImage } from './image';

/** Images larger than this are refused before any pixel buffer is allocated. */
export const MAX_IMAGE_MEGAPIXELS = 64;
/** Longest side of an input image, in pixels: a 1 x 64,000,000 strip is within the pixel limit but no photo. */
export const MAX_IMAGE_SIDE = 16384;
/** Image files larger than this are refused before they are read. */
export const MAX_IMAGE_FILE_BYTES = 2 ** 29;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * Reads a PNG or JPEG file (format from the file's bytes, not its extension).
 *
 * - Gray PNGs (with or without alpha) give 1 channel; RGB, RGBA and palette PNGs and all JPEGs give 3.
 * - 1/2/4/8/16-bit PNGs keep their full precision (value / (2^depth - 1)).
 * - Alpha (an alpha channel, or tRNS transparency) is composited onto a white background.
 * - gAMA / colour profiles are ignored (values are taken as stored, i.e. as sRGB).
 * Errors name the file: missing, unreadable, not PNG/JPEG, corrupt, or too large.
 */
export function readImage(file: string): RGBImage {
  let bytes: Buffer;
  try {
    bytes = readRegular(file, MAX_IMAGE_FILE_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`image file not found: ${file}`);
    throw e; // names the file: a directory, a FIFO or device (refused before reading), unreadable
  }
  return decodeImage(bytes, file);
}

/** Decodes PNG or JPEG bytes (see readImage); `source` names the data in error messages. */
export function decodeImage(bytes: Uint8Array, source: string): RGBImage {
  if (bytes.length === 0) throw new Error(`image file is empty: ${source}`);
  if (isPng(bytes)) return decodePng(bytes, source);
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return decodeJpeg(bytes, source);
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new Error(`unsupported image format in ${source}: expected PNG or JPEG, file starts with bytes ${head}`);
}

function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

function checkSize(width: number, height: number, source: string): void {
  if (width < 1 || height < 1) throw new Error(`image ${source} has an empty size ${width}x${height}`);
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE) {
    throw new Error(`image ${source} is too large: ${width}x${height} has a side over ${MAX_IMAGE_SIDE} pixels`);
  }
  if (width * height > MAX_IMAGE_MEGAPIXELS * 1e6) {
    throw new Error(`image ${source} is too large: ${width}x${height} exceeds ${MAX_IMAGE_MEGAPIXELS} megapixels`);
  }
}

function decodePng(bytes: Uint8Array, source: string): RGBImage {
  // IHDR is the first chunk: width and height at bytes 16..23; check them before pngjs allocates anything.
  if (bytes.length >= 24) {
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    checkSize(dv.getUint32(16), dv.getUint32(20), source);
  }
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { skipRescale: true });
  } catch (e) {
    throw new Error(`cannot decode PNG ${source}: ${(e as Error).message}`);
  }
  const { width, height } = png;
  checkSize(width, height, source);
  const meta = png as unknown as { depth: number; colorType: number };
  // pngjs returns RGBA; palette entries are 8-bit, other samples keep their bit depth when skipRescale is set.
  const max = meta.colorType === 3 ? 255 : 2 ** meta.depth - 1;
  const gray = meta.colorType === 0 || meta.colorType === 4;
  const channels = gray ? 1 : 3;
  const src = png.data as unknown as ArrayLike<number>;
  const out = new Float32Array(width * height * channels);
  const inv = 1 / max;
  for (let p = 0, n = width * height; p < n; p++) {
    const a = src[4 * p + 3] * inv;
    const bg = 1 - a; // composite on white
    if (gray) {
      out[p] = src[4 * p] * inv * a + bg;
    } else {
      out[3 * p] = src[4 * p] * inv * a + bg;
      out[3 * p + 1] = src[4 * p + 1] * inv * a + bg;
      out[3 * p + 2] = src[4 * p + 2] * inv * a + bg;
    }
  }
  return { width, height, channels, data: out };
}

function decodeJpeg(bytes: Uint8Array, source: string): RGBImage {
  let raw: { width: number; height: number; data: Uint8Array };
  try {
    raw = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      maxResolutionInMP: MAX_IMAGE_MEGAPIXELS,
      maxMemoryUsageInMB: 2048,
    });
  } catch (e) {
    throw new Error(`cannot decode JPEG ${source}: ${(e as Error).message}`);
  }
  const { width, height } = raw;
  checkSize(width, height, source);
  const n = width * height * 3;
  if (raw.data.length !== n) {
    throw new Error(`cannot decode JPEG ${source}: decoder gave ${raw.data.length} bytes for ${width}x${height} RGB`);
  }
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = raw.data[i] / 255;
  return { width, height, channels: 3, data: out };
}

/**
 * The 8-bit quantization used by encodePng: round(clamp(v, 0, 1) * 255), halves rounded up.
 * A non-finite value is an error (it names the pixel), never silently written as black.
 */
export function toUint8(img: RGBImage): Uint8Array {
  checkImage(img);
  const { data } = img;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) {
      const p = Math.floor(i / img.channels);
      throw new Error(
        `image has a non-finite value (${v}) at x=${p % img.width}, y=${Math.floor(p / img.width)}, channel ${i % img.channels}`,
      );
    }
    out[i] = Math.round((v <= 0 ? 0 : v >= 1 ? 1 : v) * 255);
  }
  return out;
}

/** 8-bit values back to floats in [0, 1] (v / 255): toUint8(fromUint8(q)) === q exactly. */
export function fromUint8(q: Uint8Array, height: number, width: number, channels: number): RGBImage {
  const img: RGBImage = { width, height, channels, data: new Float32Array(q.length) };
  for (let i = 0; i < q.length; i++) img.data[i] = q[i] / 255;
  checkImage(img, 'fromUint8');
  return img;
}

const COLOR_TYPE_FOR_CHANNELS: Record<number, 0 | 2 | 4 | 6> = { 1: 0, 2: 4, 3: 2, 4: 6 };

/**
 * Encodes an 8-bit PNG with toUint8's quantization: 1 channel -> grayscale, 2 -> gray+alpha, 3 -> RGB,
 * 4 -> RGBA. Only IHDR, IDAT and IEND chunks are written, so the bytes depend on the pixels alone.
 */
export function encodePng(img: RGBImage): Buffer {
  const colorType = COLOR_TYPE_FOR_CHANNELS[img.channels];
  if (colorType === undefined) throw new Error(`encodePng: cannot write a ${img.channels}-channel image (1-4 supported)`);
  const q = toUint8(img);
  const meta = { width: img.width, height: img.height, data: Buffer.from(q.buffer, q.byteOffset, q.byteLength) };
  return PNG.sync.write(meta as unknown as PNG, {
    colorType,
    inputColorType: colorType,
    inputHasAlpha: img.channels === 2 || img.channels === 4,
    bitDepth: 8,
  });
}
