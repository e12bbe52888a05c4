import { strict as assert } from 'assert';
import type { RGBImage } from '../image';
import { l2Distance, levelsInBall, linfDistance, psnr, quantizeInBall, softmax, ssim, topK, tvDistance } from './metrics';

function img(h: number, w: number, c: number, f: (y: number, x: number, ch: number) => number): RGBImage {
  const data = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) data[(y * w + x) * c + ch] = f(y, x, ch);
  return { height: h, width: w, channels: c, data };
}

/** A deterministic pseudo-random image in [0,1]. */
function noise(h: number, w: number, c: number, seed: number): RGBImage {
  let s = seed >>> 0;
  return img(h, w, c, () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; });
}

/**
 * Reference SSIM written the slow, direct way (float64): for every position where the 11x11 window fits,
 * the Gaussian-weighted means, variances and covariance straight from their definitions.
 */
function ssimDirect(a: RGBImage, b: RGBImage): number {
  const r = 5; const sigma = 1.5;
  const w: number[][] = [];
  let sum = 0;
  for (let i = -r; i <= r; i++) { w.push([]); for (let j = -r; j <= r; j++) { const v = Math.exp(-(i * i + j * j) / (2 * sigma * sigma)); w[i + r].push(v); sum += v; } }
  const C1 = 1e-4; const C2 = 9e-4;
  let total = 0;
  for (let c = 0; c < a.channels; c++) {
    let s = 0; let count = 0;
    for (let y = r; y < a.height - r; y++) {
      for (let x = r; x < a.width - r; x++) {
        let mx = 0; let my = 0;
        const px = (im: RGBImage, yy: number, xx: number) => im.data[(yy * im.width + xx) * im.channels + c];
        for (let i = -r; i <= r; i++) for (let j = -r; j <= r; j++) { const k = w[i + r][j + r] / sum; mx += k * px(a, y + i, x + j); my += k * px(b, y + i, x + j); }
        let vx = 0; let vy = 0; let cxy = 0;
        for (let i = -r; i <= r; i++) {
          for (let j = -r; j <= r; j++) {
            const k = w[i + r][j + r] / sum;
            const dx = px(a, y + i, x + j) - mx; const dy = px(b, y + i, x + j) - my;
            vx += k * dx * dx; vy += k * dy * dy; cxy += k * dx * dy;
          }
        }
        s += ((2 * mx * my + C1) * (2 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
        count++;
      }
    }
    total += s / count;
  }
  return total / a.channels;
}

describe('attack metrics', () => {
  it('L-inf and L2 of a known delta', () => {
    const a = img(4, 5, 3, () => 0.5);
    const b = img(4, 5, 3, (y, x, c) => 0.5 + (y === 1 && x === 2 && c === 1 ? -0.25 : 0.1));
    assert.ok(Math.abs(linfDistance(a, b) - 0.25) < 1e-7);
    // 59 values differ by 0.1 and one by 0.25: sqrt(59 * 0.01 + 0.0625)
    assert.ok(Math.abs(l2Distance(a, b) - Math.sqrt(59 * 0.01 + 0.0625)) < 1e-6);
  });

  it('PSNR: a constant delta of 0.1 is 20 dB, 1/255 is 48.13 dB; identical images are Infinity', () => {
    const a = noise(8, 8, 3, 1);
    const b = img(8, 8, 3, (y, x, c) => a.data[(y * 8 + x) * 3 + c] + 0.1);
    assert.ok(Math.abs(psnr(a, b) - 20) < 1e-4, `${psnr(a, b)}`);
    const c = img(8, 8, 3, (y, x, ch) => a.data[(y * 8 + x) * 3 + ch] - 1 / 255);
    assert.ok(Math.abs(psnr(a, c) - 20 * Math.log10(255)) < 1e-3, `${psnr(a, c)}`);
    assert.equal(psnr(a, a), Infinity);
  });

  it('TV of a checkerboard and of a vertical step (anisotropic, summed over pixels and channels)', () => {
    const zero = img(6, 7, 2, () => 0);
    // +-a checkerboard on 6x7x2: every neighbour pair differs by 2a; pairs: 5*7 vertical + 6*6 horizontal per channel.
    const a = 0.03;
    const cb = img(6, 7, 2, (y, x) => ((x + y) % 2 ? a : -a));
    assert.ok(Math.abs(tvDistance(cb, zero) - 2 * (35 + 36) * 2 * a) < 1e-5, `${tvDistance(cb, zero)}`);
    // Left 3 columns 0, the rest 0.2, in one channel only: one jump of 0.2 per row.
    const step = img(6, 7, 2, (y, x, c) => (x >= 3 && c === 1 ? 0.2 : 0));
    assert.ok(Math.abs(tvDistance(step, zero) - 6 * 0.2) < 1e-6);
    // TV is of the difference: the same pattern on top of any image gives the same value.
    const base = noise(6, 7, 2, 3);
    const shifted = img(6, 7, 2, (y, x, c) => base.data[(y * 7 + x) * 2 + c] + cb.data[(y * 7 + x) * 2 + c]);
    assert.ok(Math.abs(tvDistance(shifted, base) - tvDistance(cb, zero)) < 1e-5);
  });

  it('SSIM is 1 for identical images and equals the luminance term for two constant images', () => {
    const a = noise(20, 24, 3, 5);
    assert.ok(Math.abs(ssim(a, a) - 1) < 1e-12);
    const c1 = 0.3; const c2 = 0.5;
    const want = (2 * c1 * c2 + 1e-4) / (c1 * c1 + c2 * c2 + 1e-4);
    const got = ssim(img(16, 16, 1, () => c1), img(16, 16, 1, () => c2));
    assert.ok(Math.abs(got - want) < 1e-6, `${got} vs ${want}`);
  });

  it('SSIM equals a direct (non-separable) float64 implementation on noisy images', () => {
    const a = noise(23, 19, 3, 7);
    const b = img(23, 19, 3, (y, x, c) => 0.7 * a.data[(y * 19 + x) * 3 + c] + 0.2 * Math.sin(x + 2 * y + c));
    const got = ssim(a, b);
    const want = ssimDirect(a, b);
    assert.ok(Math.abs(got - want) < 1e-9, `${got} vs ${want}`);
    assert.ok(got < 0.95 && got > -1);
    assert.ok(Math.abs(ssim(a, b) - ssim(b, a)) < 1e-12);
  });

  it('levelsInBall and quantizeInBall: nearest level, clamped toward the original inside the ball', () => {
    assert.equal(levelsInBall(0.01), 2);
    assert.equal(levelsInBall(3 / 255), 3);
    assert.equal(levelsInBall(0.03), 7);
    assert.equal(levelsInBall(0.003), 0);
    const orig = new Uint8Array([100, 100, 100, 0, 255, 100]);
    // 0.01 = 2.55 levels: 100 + 2.55 rounds to 103, outside the ball -> 102; 100 - 1.4 -> 99; below 0 -> 0.
    const adv: RGBImage = { height: 1, width: 2, channels: 3, data: new Float32Array([(100 + 2.55) / 255, (100 - 1.4) / 255, (100 + 2.4) / 255, -0.5, 1.5, 0.9]) };
    assert.deepEqual(Array.from(quantizeInBall(adv, orig, 0.01)), [102, 99, 102, 0, 255, 102]);
  });

  it('softmax and top-k', () => {
    const p = softmax([1, 3, 2, 3]);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.ok(Math.abs(p[1] / p[0] - Math.exp(2)) < 1e-9);
    const t = topK(p, 3, ['a, x', 'b', 'c', 'd']);
    assert.deepEqual(t.map((c) => c.index), [1, 3, 2]);
    assert.deepEqual(t.map((c) => c.name), ['b', 'd', 'c']);
  });
});
