// Heatmap overlays: a map in [0,1] coloured (black-red-yellow-white, "hot") over an image, and a box outline.
import { checkImage, createImage, type RGBImage } from './image';
import { convertChannels } from './resize';

/** The "hot" colour of t in [0,1]: black, red, yellow, white. */
export function hotColor(t: number): [number, number, number] {
  const c = (v: number) => Math.min(1, Math.max(0, v));
  return [c(3 * t), c(3 * t - 1), c(3 * t - 2)];
}

/**
 * The image (as RGB) blended half and half with the hot colour of `map` (height x width values in [0,1],
 * clamped); where the map is 0 the image is only darkened, so the strongest places stand out.
 */
export function heatmapOverlay(img: RGBImage, map: Float32Array, alpha = 0.5): RGBImage {
  checkImage(img, 'heatmapOverlay image');
  if (map.length !== img.width * img.height) throw new Error(`heatmapOverlay: the map has ${map.length} values, the image ${img.width}x${img.height} pixels`);
  const rgb = convertChannels(img, 3);
  const out = createImage(img.height, img.width, 3);
  for (let p = 0; p < map.length; p++) {
    const col = hotColor(map[p]);
    for (let k = 0; k < 3; k++) out.data[3 * p + k] = (1 - alpha) * rgb.data[3 * p + k] + alpha * col[k];
  }
  return out;
}

/** Draws the outline of box [x, y, width, height] (pixels) onto an RGB image, in place. */
export function drawBox(img: RGBImage, box: readonly [number, number, number, number], color: readonly [number, number, number], thickness = 1): void {
  if (img.channels !== 3) throw new Error(`drawBox needs an RGB image, got ${img.channels} channel(s)`);
  const [x0, y0, w, h] = box;
  const x1 = Math.min(img.width, x0 + w) - 1;
  const y1 = Math.min(img.height, y0 + h) - 1;
  const put = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    img.data.set(color, 3 * (y * img.width + x));
  };
  for (let t = 0; t < thickness; t++) {
    for (let x = x0; x <= x1; x++) { put(x, y0 + t); put(x, y1 - t); }
    for (let y = y0; y <= y1; y++) { put(x0 + t, y); put(x1 - t, y); }
  }
}
