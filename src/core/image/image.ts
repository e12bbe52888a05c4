/**
 * An image in memory: row-major HWC float values, nominally in [0, 1]. Channels are 1 (gray), 3 (RGB) or,
 * for encoding only, 2/4 (with alpha). Values outside [0, 1] are allowed in memory (perturbations, unclamped
 * optimizer output) and are clamped only when quantized to 8 bits.
 */
export interface RGBImage {
  width: number;
  height: number;
  channels: number;
  data: Float32Array;
}

export function createImage(height: number, width: number, channels: number, fill = 0): RGBImage {
  checkDims(height, width, channels, 'createImage');
  const data = new Float32Array(height * width * channels);
  if (fill !== 0) data.fill(fill);
  return { width, height, channels, data };
}

/** Throws a one-line error if the image's fields are inconsistent; `what` names the image in the message. */
export function checkImage(img: RGBImage, what = 'image'): void {
  checkDims(img.height, img.width, img.channels, what);
  if (!(img.data instanceof Float32Array)) throw new Error(`${what}: data must be a Float32Array`);
  const want = img.height * img.width * img.channels;
  if (img.data.length !== want) {
    throw new Error(
      `${what}: data has ${img.data.length} values but ${img.height}x${img.width}x${img.channels} needs ${want}`,
    );
  }
}

function checkDims(height: number, width: number, channels: number, what: string): void {
  for (const [name, v] of [['height', height], ['width', width], ['channels', channels]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`${what}: ${name} must be a positive integer, got ${v}`);
  }
}

/** `WxH`, the order used in every note and message of this module. */
export function sizeText(width: number, height: number): string {
  return `${width}x${height}`;
}
