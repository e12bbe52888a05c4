import { strict as assert } from 'assert';
import { createImage } from './image';
import { drawBox, heatmapOverlay, hotColor } from './heatmap';

describe('heatmaps', () => {
  it('colours black, red, yellow, white along the map', () => {
    assert.deepEqual(hotColor(0), [0, 0, 0]);
    assert.deepEqual(hotColor(1 / 3), [1, 0, 0]);
    assert.deepEqual(hotColor(2 / 3).map((v) => +v.toFixed(6)), [1, 1, 0]);
    assert.deepEqual(hotColor(2), [1, 1, 1]);
  });

  it('blends the map half and half over a gray image made RGB; checks the sizes', () => {
    const img = createImage(1, 2, 1, 0.4);
    const out = heatmapOverlay(img, Float32Array.from([0, 1]));
    assert.equal(out.channels, 3);
    assert.deepEqual([...out.data].map((v) => +v.toFixed(6)), [0.2, 0.2, 0.2, 0.7, 0.7, 0.7]);
    assert.throws(() => heatmapOverlay(img, new Float32Array(3)), /the map has 3 values, the image 2x1 pixels/);
  });

  it('draws only the outline of a box, clipped to the image', () => {
    const img = createImage(5, 5, 3);
    drawBox(img, [1, 1, 3, 3], [1, 0, 0]);
    const red = (x: number, y: number) => img.data[3 * (y * 5 + x)] === 1;
    assert.ok(red(1, 1) && red(3, 1) && red(1, 3) && red(3, 3) && red(2, 1));
    assert.ok(!red(2, 2) && !red(0, 0) && !red(4, 4), 'inside and outside stay');
    drawBox(img, [3, 3, 9, 9], [0, 1, 0]);
    assert.equal(img.data[3 * (4 * 5 + 4) + 1], 1);
    assert.throws(() => drawBox(createImage(2, 2, 1), [0, 0, 1, 1], [1, 1, 1]), /needs an RGB image/);
  });
});
