import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { loadModel, type NLModel } from '../model';
import { encodePng, fitToInput, fromUint8, readImage, toUint8, type RGBImage } from '../image';
import { fixture } from '../testing/fixtures';
import { parseUnits } from './objectives';
import { visualize } from './visualize';
import { preprocessImage } from '../model/preprocess';

const MODELS = fixture('models');

/** Logits of images (in [0,1]) as [B][classes]. */
async function logitsOf(model: NLModel, images: RGBImage[]): Promise<number[][]> {
  const out = tf.tidy(() => {
    const x = tf.stack(images.map((im) => tf.tensor3d(im.data, [im.height, im.width, im.channels]))) as tf.Tensor4D;
    const [l] = model.tap([model.logitsLayer!], preprocessImage(model, x));
    return tf.reshape(l, [images.length, -1]);
  });
  const rows = (await out.array()) as number[][];
  out.dispose();
  return rows;
}

const argmax = (r: number[]) => r.indexOf(Math.max(...r));

/** Share of spectral energy above a quarter of the sampling rate (per channel, DC removed). */
function highFrequencyShare(img: RGBImage): number {
  const { width: w, height: h, channels: c, data } = img;
  let hi = 0;
  let total = 0;
  for (let ch = 0; ch < c; ch++) {
    let mean = 0;
    for (let i = 0; i < w * h; i++) mean += data[i * c + ch];
    mean /= w * h;
    for (let ky = 0; ky < h; ky++) {
      for (let kx = 0; kx < w; kx++) {
        let re = 0;
        let im = 0;
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const v = data[(y * w + x) * c + ch] - mean;
            const a = -2 * Math.PI * (ky * y / h + kx * x / w);
            re += v * Math.cos(a);
            im += v * Math.sin(a);
          }
        }
        const fy = Math.min(ky, h - ky) / h;
        const fx = Math.min(kx, w - kx) / w;
        const p = re * re + im * im;
        total += p;
        if (Math.hypot(fx, fy) > 0.25) hi += p;
      }
    }
  }
  return hi / total;
}

describe('visualize (activation maximization)', function () {
  before(async () => { await initBackend('wasm'); });

  it('keeps the tensor count constant across steps and a seed reproduces PNG bytes', async () => {
    const model = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      const units = parseUnits(model, ['channel:conv_pw_3:0-1']);
      const counts: number[] = [];
      const run = () => visualize(model, units, { steps: 6, size: 64, seed: 3, onProgress: () => counts.push(tf.memory().numTensors) });
      const before = tf.memory().numTensors;
      const a = await run();
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      assert.ok(counts.slice(1).every((n) => n === counts[1]), `tensor count per step ${counts.join(',')}`);
      const b = await run();
      assert.deepEqual(a.units.map((u) => encodePng(u.image)), b.units.map((u) => encodePng(u.image)));
      const c = await visualize(model, units, { steps: 6, size: 64, seed: 4 });
      assert.notDeepEqual(a.units.map((u) => encodePng(u.image)), c.units.map((u) => encodePng(u.image)));
    } finally {
      model.dispose();
    }
  });

  it('stops when asked and returns what it has', async () => {
    const model = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      let steps = 0;
      const res = await visualize(model, parseUnits(model, ['logit:1', 'logit:2', 'logit:3']), {
        steps: 50, size: 32, batch: 2, onProgress: () => { steps++; }, shouldStop: () => steps >= 3,
      });
      assert.equal(res.cancelled, true);
      assert.equal(res.units.length, 2, 'the first chunk is kept, the second never starts');
      assert.equal(res.units[0].steps, 3);
    } finally {
      model.dispose();
    }
  });

  it('Fourier images have far less high-frequency energy than pixel images of the same unit', async () => {
    const model = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      const units = parseUnits(model, ['logit:1']);
      const opts = { steps: 40, size: 48, seed: 1 };
      const [pixel, fourier] = [await visualize(model, units, { ...opts, param: 'pixel' }), await visualize(model, units, { ...opts, param: 'fourier' })];
      const p = highFrequencyShare(pixel.units[0].image);
      const f = highFrequencyShare(fourier.units[0].image);
      console.log(`      high-frequency energy share (f > 0.25 cycles/px): pixel ${p.toFixed(3)}, fourier ${f.toFixed(3)}, ratio ${(p / f).toFixed(1)}x`);
      assert.ok(p > 3 * f, `pixel ${p} vs fourier ${f}`);
    } finally {
      model.dispose();
    }
  });

  it('logit visualizations of mobilenet_v1_0.75_224 are classified as their class (>= 9 of 10), far above real photos', async () => {
    const model = await loadModel(path.join(MODELS, 'mobilenet_v1_0.75_224'), { inputRange: [-1, 1] });
    try {
      // Classes with photos among the fixtures, and others.
      const classes = [1, 94, 130, 285, 309, 417, 812, 852, 934, 985];
      const res = await visualize(model, parseUnits(model, classes.map((c) => `logit:${c}`)), { steps: 96, batch: 10, seed: 0 });
      // Classify the 8-bit PNG a user gets, not the float image.
      const logits = await logitsOf(model, res.units.map(({ image: im }) => fromUint8(toUint8(im), im.height, im.width, im.channels)));
      const hits = classes.filter((c, i) => argmax(logits[i]) === c);
      const photos = ['coral_bird.png', 'coral_cat.png', 'coral_dragonfly.png', 'coral_sunflower.png', 'coral_hot_dog.jpg', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'astronaut.png', 'china.jpg']
        .map((f) => fitToInput(readImage(fixture('images', f)), 224, 224, 3).image);
      const photoLogits = await logitsOf(model, photos);
      const margins = classes.map((c, i) => logits[i][c] - Math.max(...photoLogits.map((r) => r[c])));
      console.log(`      top-1 = target for ${hits.length}/10; logit minus best photo logit: ${margins.map((m) => m.toFixed(1)).join(', ')}`);
      assert.ok(hits.length >= 9, `only ${hits.length} of 10 classified as their target`);
      for (const m of margins) assert.ok(m > 5, `visualization logit only ${m} above the best photo`);
    } finally {
      model.dispose();
    }
  });
});
