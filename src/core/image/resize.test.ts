import * as assert from 'assert';
import { fixture } from '../testing/fixtures';
import { readImage } from './codec';
import { createImage, RGBImage } from './image';
import { convertChannels, crop, fitToInput, resizeImage } from './resize';

/** Exact area average in float64, written directly in 2-D (independent of the separable implementation). */
function areaReference(img: RGBImage, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow * img.channels);
  const sx = img.width / ow;
  const sy = img.height / oh;
  for (let oy = 0; oy < oh; oy++) {
    for (let ox = 0; ox < ow; ox++) {
      for (let y = 0; y < img.height; y++) {
        const cy = Math.min((oy + 1) * sy, y + 1) - Math.max(oy * sy, y);
        if (cy <= 0) continue;
        for (let x = 0; x < img.width; x++) {
          const cx = Math.min((ox + 1) * sx, x + 1) - Math.max(ox * sx, x);
          if (cx <= 0) continue;
          for (let c = 0; c < img.channels; c++) {
            out[(oy * ow + ox) * img.channels + c] += (cx * cy * img.data[(y * img.width + x) * img.channels + c]) / (sx * sy);
          }
        }
      }
    }
  }
  return out;
}

function checkerboard(size: number): RGBImage {
  const img = createImage(size, size, 1);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) img.data[y * size + x] = (x + y) % 2;
  return img;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.strictEqual(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('image resize and fitToInput', () => {
  it('centre-crops a wide image to the input aspect (left/right colours)', () => {
    // 60x40: x < 30 red, else blue. The 40x40 centre crop starts at x = 10, so the halves stay equal.
    const img = createImage(40, 60, 3);
    for (let y = 0; y < 40; y++) for (let x = 0; x < 60; x++) img.data[(y * 60 + x) * 3 + (x < 30 ? 0 : 2)] = 1;
    const { image, note } = fitToInput(img, 20, 20, 3);
    assert.strictEqual(note, 'centre-cropped 60x40 -> 40x40, resized to 20x20');
    assert.deepStrictEqual([image.width, image.height, image.channels], [20, 20, 3]);
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 20; x++) {
        const px = Array.from(image.data.subarray((y * 20 + x) * 3, (y * 20 + x) * 3 + 3));
        assert.deepStrictEqual(px, x < 10 ? [1, 0, 0] : [0, 0, 1], `pixel ${x},${y}`);
      }
    }
  });

  it('crop offsets: odd surplus floors, tall images crop rows, non-square inputs keep their aspect', () => {
    // Values encode the source coordinate, so the crop origin can be read back.
    const ramp = (w: number, h: number) => {
      const img = createImage(h, w, 1);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data[y * w + x] = x + 1000 * y;
      return img;
    };
    const wide = fitToInput(ramp(61, 40), 40, 40, 1);
    assert.strictEqual(wide.note, 'centre-cropped 61x40 -> 40x40');
    assert.strictEqual(wide.image.data[0], 10); // (61 - 40) / 2 floored
    const tall = fitToInput(ramp(30, 50), 30, 30, 1);
    assert.strictEqual(tall.note, 'centre-cropped 30x50 -> 30x30');
    assert.strictEqual(tall.image.data[0], 10 * 1000);
    const rect = fitToInput(ramp(100, 100), 50, 100, 1); // input 100 wide, 50 high
    assert.strictEqual(rect.note, 'centre-cropped 100x100 -> 100x50');
    assert.strictEqual(rect.image.data[0], 25 * 1000);
    const same = fitToInput(ramp(8, 8), 8, 8, 1);
    assert.strictEqual(same.note, 'used as is (8x8)');
    assert.deepStrictEqual(same.image.data, ramp(8, 8).data);
  });

  it('downscaling a checkerboard averages to grey (antialiased), matching an exact area reference', () => {
    const board = checkerboard(64);
    const even = resizeImage(board, 16, 16);
    assert.ok(even.data.every((v) => Math.abs(v - 0.5) < 1e-6), 'integer factor gives exact grey');
    const odd = resizeImage(board, 24, 24); // factor 8/3: fractional coverage
    const ref = areaReference(board, 24, 24);
    assert.ok(maxAbsDiff(odd.data, ref) < 1e-5, `vs area reference: ${maxAbsDiff(odd.data, ref)}`);
    assert.ok(odd.data.every((v) => Math.abs(v - 0.5) < 0.1), 'near grey everywhere');
    const nearest = resizeImage(board, 24, 24, 'nearest');
    assert.ok(nearest.data.some((v) => v === 0) && nearest.data.some((v) => v === 1), 'nearest aliases (control)');
  });

  it('area reference also holds for a random RGB image with different x and y factors', () => {
    const img = createImage(23, 37, 3);
    let s = 1;
    for (let i = 0; i < img.data.length; i++) img.data[i] = (s = (s * 16807) % 2147483647) / 2147483647;
    const out = resizeImage(img, 7, 10);
    assert.ok(maxAbsDiff(out.data, areaReference(img, 7, 10)) < 1e-5);
  });

  it('upscaling is bilinear with half-pixel centres and clamped edges', () => {
    const img: RGBImage = { width: 2, height: 1, channels: 1, data: Float32Array.of(0, 1) };
    assert.deepStrictEqual(Array.from(resizeImage(img, 1, 4).data), [0, 0.25, 0.75, 1]);
    const col: RGBImage = { width: 1, height: 2, channels: 1, data: Float32Array.of(0, 1) };
    assert.deepStrictEqual(Array.from(resizeImage(col, 4, 2).data), [0, 0, 0.25, 0.25, 0.75, 0.75, 1, 1]);
  });

  it('converts channels: RGB -> gray by Rec. 601 luma, gray -> RGB by replication', () => {
    const rgb: RGBImage = { width: 2, height: 1, channels: 3, data: Float32Array.of(1, 0, 0, 0.2, 0.4, 0.6) };
    const gray = fitToInput(rgb, 1, 2, 1);
    assert.strictEqual(gray.note, 'RGB -> gray (luma)');
    assert.ok(maxAbsDiff(gray.image.data, [0.299, 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6]) < 1e-6);
    const back = convertChannels(gray.image, 3);
    assert.deepStrictEqual(Array.from(back.data.subarray(0, 3)), [gray.image.data[0], gray.image.data[0], gray.image.data[0]]);
    assert.throws(() => convertChannels(rgb, 4), /cannot convert a 3-channel image to 4 channels/);
  });

  it('fits a real photo like PIL (centre crop + BOX resize) within 8-bit rounding', () => {
    // PIL 9.4: crop((75, 0, 375, 300)).resize((224, 224), Image.BOX); PIL samples the box at pixel centres
    // and rounds to 8 bits, hence the tolerances.
    const { image, note } = fitToInput(readImage(fixture('images', 'chelsea.png')), 224, 224, 3);
    assert.strictEqual(note, 'centre-cropped 451x300 -> 300x300, resized to 224x224');
    const sums = [0, 0, 0];
    image.data.forEach((v, i) => (sums[i % 3] += v));
    assert.ok(maxAbsDiff(sums.map((s) => s / (224 * 224)), [0.58219, 0.42779, 0.31336]) < 0.002);
    const px = (x: number, y: number) => Array.from(image.data.subarray((y * 224 + x) * 3, (y * 224 + x) * 3 + 3));
    assert.ok(maxAbsDiff(px(50, 100), [0.7255, 0.549, 0.3882]) < 0.02, `${px(50, 100)}`);
    assert.ok(maxAbsDiff(px(200, 10), [0.6745, 0.5294, 0.4941]) < 0.02, `${px(200, 10)}`);
  });

  it('rejects bad sizes and crops with messages naming the value', () => {
    const img = createImage(4, 4, 3);
    assert.throws(() => fitToInput(img, 0, 4, 3), /model input height must be a positive integer, got 0/);
    assert.throws(() => crop(img, 2, 0, 3, 3), /crop 3x3 at \(2, 0\) is outside the 4x4 image/);
    assert.throws(() => resizeImage({ ...img, data: new Float32Array(5) }, 2, 2), /data has 5 values but 4x4x3 needs 48/);
  });
});
