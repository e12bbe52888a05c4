import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { colorDecorrelationMatrix, toValidImage } from './color';

describe('render/param/color', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('color decorrelation matrix has max column norm 1 (Lucid max-norm)', () => {
    const m = colorDecorrelationMatrix(); // rgb = t @ m, so m's rows are C's columns
    const norms = m.map((row) => Math.hypot(...row));
    assert.ok(Math.abs(Math.max(...norms) - 1) < 1e-12, `norms ${norms}`);
    assert.ok(Math.abs(m[0][1] - 0.27 / Math.hypot(0.26, 0.27, 0.27)) < 1e-12);
  });

  it('toValidImage is sigmoid(t @ M) with 3 channels and sigmoid(t) without decorrelation', () => {
    const t = [0.5, -1, 2, 0, 3, -0.25];
    const m = colorDecorrelationMatrix();
    const sig = (x: number) => 1 / (1 + Math.exp(-x));
    const got = tf.tidy(() => toValidImage(tf.tensor4d(t, [1, 1, 2, 3]), tf.tensor2d(m)).dataSync());
    const want = [0, 1].flatMap((p) => [0, 1, 2].map((j) => sig([0, 1, 2].reduce((s, i) => s + t[p * 3 + i] * m[i][j], 0))));
    got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `rgb[${i}] ${v} vs ${want[i]}`));
    const plain = tf.tidy(() => toValidImage(tf.tensor4d(t, [1, 2, 3, 1]), null).dataSync());
    plain.forEach((v, i) => assert.ok(Math.abs(v - sig(t[i])) < 1e-6));
  });
});
