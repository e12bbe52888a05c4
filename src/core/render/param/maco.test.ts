import * as assert from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { getParam, rfft2dFreqs } from '.';
import { createMacoParam, macoMagnitude } from './maco';
import spectrumFile from './maco-spectrum.json';
import { channelPlane, describeParamContract, refRfft2 } from './testing_utils';
import { initBackend } from '../../backend';
import { loadModel } from '../../model';
import { fixture } from '../../testing/fixtures';
import { parseUnits } from '../objectives';
import { visualize } from '../visualize';

describe('render/param/maco', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  describeParamContract('maco');

  it('the magnitude is the stored one at the stored size, falls off like 1/f, and is even in the DC and Nyquist columns', () => {
    const s = spectrumFile.size;
    const m = macoMagnitude(s, s, 3, true);
    const fw = s / 2 + 1;
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < fw; x++) {
          const want = y === 0 && x === 0 ? 0 : spectrumFile.magnitude[c][y][x];
          worst = Math.max(worst, Math.abs(m[(c * s + y) * fw + x] - want) / Math.max(want, 1e-9));
        }
      }
    }
    assert.ok(worst < 1e-3, `relative difference from the stored magnitude ${worst}`);
    for (const [h, w] of [[224, 224], [37, 50]]) {
      const r = macoMagnitude(h, w, 1, false);
      const f = rfft2dFreqs(h, w);
      const rfw = Math.floor(w / 2) + 1;
      const band = (lo: number, hi: number) => {
        let sum = 0;
        let n = 0;
        f.forEach((v, i) => { if (v > lo && v <= hi) { sum += r[i]; n++; } });
        return sum / n;
      };
      const low = band(0.02, 0.04);
      const high = band(0.2, 0.4);
      console.log(`      ${h}x${w}: mean magnitude at 0.02-0.04 / at 0.2-0.4 cycles/px = ${(low / high).toFixed(1)} (1/f: about 10)`);
      assert.ok(low / high > 5 && low / high < 60, `ratio ${low / high}`);
      assert.strictEqual(r[0], 0);
      assert.ok(r.every((v, i) => i === 0 || v > 0));
      for (const x of w % 2 === 0 ? [0, rfw - 1] : [0]) {
        for (let y = 1; y < h; y++) assert.strictEqual(r[y * rfw + x], r[(h - y) * rfw + x], `column ${x} row ${y}`);
      }
    }
  });

  for (const [h, w] of [[24, 20], [15, 21]]) {
    it(`keeps the magnitude exactly and changes only the phase over Adam steps (${h}x${w})`, () => {
      const b = 2;
      const c = 3;
      const fw = Math.floor(w / 2) + 1;
      const p = createMacoParam({ batch: b, height: h, width: w, channels: c, seed: 4 });
      // Only the phase is a variable.
      assert.strictEqual(p.variables.length, 1);
      assert.deepStrictEqual(p.variables[0].shape, [b, c, h, fw]);
      const angles = () => tf.tidy(() => { const [re, im] = p.spectrum(); return tf.atan2(im, re).dataSync(); });
      const before = angles();
      const target = tf.randomUniform([b, h, w, c], 0, 1, 'float32', 7);
      const opt = tf.train.adam(0.05);
      for (let i = 0; i < 20; i++) opt.minimize(() => tf.sum(tf.square(tf.sub(p.image(), target))) as tf.Scalar, false, p.variables);
      opt.dispose();
      target.dispose();
      const after = angles();
      let moved = 0;
      before.forEach((a, i) => { moved += Math.abs(Math.atan2(Math.sin(after[i] - a), Math.cos(after[i] - a))) / before.length; });
      console.log(`      mean |phase change| after 20 steps ${moved.toFixed(3)} rad`);
      assert.ok(moved > 0.01, `the phase hardly moved: ${moved}`);

      // The spectrum fed to the inverse DFT has the fixed magnitude.
      const [re, im] = tf.tidy(() => p.spectrum().map((t) => t.dataSync()));
      let magErr = 0;
      for (let i = 0; i < re.length; i++) {
        const want = p.magnitude[i % (c * h * fw)];
        magErr = Math.max(magErr, Math.abs(Math.hypot(re[i], im[i]) - want) / Math.max(...p.magnitude));
      }
      assert.ok(magErr < 1e-6, `|spectrum| - magnitude: ${magErr}`);

      // And it is the spectrum of the image: rfft2 of the standardized image is k * spectrum, one k per image.
      const t = tf.tidy(() => p.spatial().dataSync()) as Float32Array;
      for (let bi = 0; bi < b; bi++) {
        let num = 0;
        let den = 0;
        const refs: [Float64Array, Float64Array][] = [];
        for (let ch = 0; ch < c; ch++) {
          const [xr, xi] = refRfft2(channelPlane(t, h, w, c, ch, bi), h, w);
          refs.push([xr, xi]);
          for (let i = 0; i < h * fw; i++) {
            const j = ((bi * c + ch) * h * fw) + i;
            num += xr[i] * re[j] + xi[i] * im[j];
            den += re[j] ** 2 + im[j] ** 2;
          }
        }
        const k = num / den;
        let err = 0;
        let norm = 0;
        refs.forEach(([xr, xi], ch) => {
          for (let i = 0; i < h * fw; i++) {
            const j = ((bi * c + ch) * h * fw) + i;
            err += (xr[i] - k * re[j]) ** 2 + (xi[i] - k * im[j]) ** 2;
            norm += xr[i] ** 2 + xi[i] ** 2;
          }
        });
        const rel = Math.sqrt(err / norm);
        console.log(`      image ${bi}: rfft2(image) = ${k.toFixed(4)} * spectrum, relative error ${rel.toExponential(2)}`);
        assert.ok(rel < 1e-5, `relative error ${rel}`);
      }
      p.dispose();
    });
  }

  it('is registered with the importance map', () => {
    assert.strictEqual(getParam('maco').importance, true);
  });

  it('visualize with maco returns an image and its importance map', async () => {
    await initBackend('wasm');
    const model = await loadModel(path.join(fixture('models'), 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      const res = await visualize(model, parseUnits(model, ['logit:1']), { param: 'maco', steps: 3, size: 32, seed: 1 });
      const m = res.units[0].importance;
      assert.ok(m && m.width === 32 && m.height === 32 && m.channels === 1 && Math.max(...m.data) === 1);
    } finally {
      model.dispose();
      await tf.setBackend('cpu');
    }
  });
});
