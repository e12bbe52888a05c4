import * as assert from 'assert';
import { ELLIPSIS, fitText, GLYPH_HEIGHT, textWidth } from './font';
import { GRID_BACKGROUND, makeGrid, perturbationImage } from './grid';
import { createImage, RGBImage } from './image';

function lightPixels(img: RGBImage, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (img.data[(y * img.width + x) * 3] > 0.8) n++;
  return n;
}

describe('image grid', () => {
  it('perturbationImage maps delta to 0.5 + gain * delta, clamped', () => {
    const d: RGBImage = { width: 5, height: 1, channels: 1, data: Float32Array.of(0, 0.01, -0.02, 0.2, -0.2) };
    const p = perturbationImage(d);
    const want = [0.5, 0.6, 0.3, 1, 0];
    p.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `${i}: ${v}`));
    assert.ok(Math.abs(perturbationImage(d, 2).data[3] - 0.9) < 1e-6);
  });

  it('lays out small tiles upscaled (28 -> 112, nearest) with a label strip under each', () => {
    // 5 gray 28x28 tiles in 3 columns: tile 112, padding 8, text scale 1, label strip 3 + 8 + 3.
    const tiles = Array.from({ length: 5 }, (_, i) => {
      const t = createImage(28, 28, 1, 0.2);
      t.data[7 * 28 + 5] = 0.6 + i * 0.05; // a marker pixel at (5, 7)
      return t;
    });
    const labels = ['logit:0', 'logit:1', '', 'channel conv_pw_13 511', 'x'];
    const grid = makeGrid(tiles, labels, { columns: 3 });
    const strip = 3 + GLYPH_HEIGHT + 3;
    assert.deepStrictEqual([grid.width, grid.height, grid.channels], [3 * 112 + 4 * 8, 2 * (112 + strip) + 3 * 8, 3]);
    // Marker of tile 4 (row 1, column 1) as a 4x4 block.
    const ox = 8 + 120 + 5 * 4;
    const oy = 8 + (112 + strip + 8) + 7 * 4;
    for (let dy = 0; dy < 4; dy++) {
      for (let dx = 0; dx < 4; dx++) {
        const o = ((oy + dy) * grid.width + ox + dx) * 3;
        assert.deepStrictEqual(Array.from(grid.data.subarray(o, o + 3)).map((v) => v.toFixed(4)), Array(3).fill((0.8).toFixed(4)));
      }
    }
    assert.ok(Math.abs(grid.data[((oy - 1) * grid.width + ox) * 3] - 0.2) < 1e-6, 'neighbour of the block is tile background');
    // Label strips: text drawn under labelled tiles, none under the empty label, none in the padding.
    const stripOf = (i: number) => {
      const x0 = 8 + (i % 3) * 120;
      const y0 = 8 + Math.floor(i / 3) * (112 + strip + 8) + 112;
      return [x0, y0, x0 + 112, y0 + strip] as const;
    };
    assert.ok(lightPixels(grid, ...stripOf(0)) > 40, 'label 0 drawn');
    assert.strictEqual(lightPixels(grid, ...stripOf(2)), 0, 'empty label');
    assert.ok(lightPixels(grid, ...stripOf(4)) > 5, 'label "x" drawn');
    assert.ok(lightPixels(grid, ...stripOf(0)) > lightPixels(grid, ...stripOf(4)));
    // The long label is truncated to the tile width: nothing light in the padding beside its strip.
    const [x0, y0, x1, y1] = stripOf(3);
    assert.ok(lightPixels(grid, x0, y0, x1, y1) > 40);
    assert.strictEqual(lightPixels(grid, x1, y0, x1 + 8, y1), 0);
    assert.strictEqual(lightPixels(grid, 0, y0, x0, y1), 0);
    // Background is the dark grey.
    assert.ok(Math.abs(grid.data[0] - GRID_BACKGROUND) < 1e-6);
  });

  it('large tiles keep their size, get x2 text, and non-square tiles are centred', () => {
    const wide = createImage(100, 200, 3, 1);
    const grid = makeGrid([wide, createImage(200, 200, 3, 0.5)], ['wide', 'square'], { padding: 4 });
    const strip = 6 + 2 * GLYPH_HEIGHT + 6;
    assert.deepStrictEqual([grid.width, grid.height], [2 * 200 + 3 * 4, 200 + strip + 2 * 4]);
    const at = (x: number, y: number) => grid.data[(y * grid.width + x) * 3];
    assert.ok(Math.abs(at(4 + 100, 4 + 49) - GRID_BACKGROUND) < 1e-6, 'above the centred wide tile');
    assert.strictEqual(at(4 + 100, 4 + 50), 1);
    assert.strictEqual(at(4 + 100, 4 + 149), 1);
    assert.ok(Math.abs(at(4 + 100, 4 + 150) - GRID_BACKGROUND) < 1e-6, 'below it');
    // Downscaled tile via tileSize: area averaging of a 1-px checkerboard gives grey.
    const board = createImage(64, 64, 1);
    for (let p = 0; p < 64 * 64; p++) board.data[p] = ((p % 64) + Math.floor(p / 64)) % 2;
    const small = makeGrid([board], ['b'], { tileSize: 32, padding: 0 });
    assert.ok(Math.abs(small.data[(10 * 32 + 10) * 3] - 0.5) < 1e-6);
  });

  it('truncates text with an ellipsis to the width', () => {
    const long = 'abcdefghijklmnopqrstuvwxyz';
    assert.strictEqual(fitText('short', 100), 'short');
    const cut = fitText(long, 60);
    assert.ok(cut.endsWith(ELLIPSIS) && textWidth(cut) <= 60 && textWidth(cut + 'x') > 60, cut);
    assert.strictEqual(fitText(long, 60 * 2, 2), cut);
  });

  it('rejects bad arguments', () => {
    const t = createImage(4, 4, 3);
    assert.throws(() => makeGrid([], []), /no tiles/);
    assert.throws(() => makeGrid([t], ['a', 'b']), /1 tiles but 2 labels/);
    assert.throws(() => makeGrid([t], ['a'], { columns: 0 }), /columns must be a positive integer, got 0/);
    assert.throws(() => makeGrid([createImage(4, 4, 2)], ['a']), /tile 0: 2 channels/);
  });
});
