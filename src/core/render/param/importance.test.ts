import * as assert from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { ImportanceAccumulator, normaliseImportance } from './importance';

describe('render/param/importance', () => {
  before(async () => {
    await tf.setBackend('cpu');
  });

  it('normaliseImportance: channel mean, clipped at the 80th percentile (linear interpolation), scaled to [0,1]', () => {
    // 10 pixels, 2 channels: channel means 0, 1, ..., 9. numpy.percentile(arange(10), 80) = 7.2.
    const sum = Float32Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? Math.floor(i / 2) - 1 : Math.floor(i / 2) + 1));
    const m = normaliseImportance(sum, 2, 5, 2);
    assert.deepStrictEqual([m.height, m.width, m.channels], [2, 5, 1]);
    const want = [0, 1, 2, 3, 4, 5, 6, 7, 7.2, 7.2].map((v) => v / 7.2);
    m.data.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-6, `pixel ${i}: ${v} vs ${want[i]}`));
    assert.deepStrictEqual(Array.from(normaliseImportance(new Float32Array(6), 1, 2, 3).data), [0, 0]);
    assert.throws(() => normaliseImportance(new Float32Array(5), 1, 2, 3), /5 values for 1x2x3/);
  });

  it('track() is the identity forward and sums |d loss / d image| over backward passes, with no tensor left over', async () => {
    const shape: [number, number, number, number] = [2, 3, 4, 3];
    const img = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal(shape, 0, 1, 'float32', 2);
    const acc = new ImportanceAccumulator(shape);
    const v = tf.variable(img);
    const counts: number[] = [];
    const loss = () => tf.sum(tf.mul(tf.sin(acc.track(v as tf.Tensor4D)), w)) as tf.Scalar;
    const same = tf.tidy(() => tf.max(tf.abs(tf.sub(acc.track(img), img))).dataSync()[0]);
    assert.strictEqual(same, 0);
    // Reference: the gradient of the same loss without the tap, at each step's point.
    let expect = tf.zeros(shape);
    for (let step = 0; step < 3; step++) {
      const ref = tf.tidy(() => tf.abs(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.sin(x), w)))(v)));
      const next = tf.add(expect, ref);
      tf.dispose([expect, ref]);
      expect = next;
      tf.tidy(() => {
        const { grads } = tf.variableGrads(loss, [v]);
        v.assign(tf.sub(v, tf.mul(grads[v.name], 0.1)));
      });
      counts.push(tf.memory().numTensors);
    }
    assert.ok(counts.every((n) => n === counts[0]), `tensor counts per step ${counts}`);
    const maps = await acc.maps();
    assert.strictEqual(maps.length, 2);
    const data = await expect.data();
    for (let b = 0; b < 2; b++) {
      const want = normaliseImportance((data as Float32Array).subarray(b * 36, (b + 1) * 36), 3, 4, 3);
      maps[b].data.forEach((x, i) => assert.ok(Math.abs(x - want.data[i]) < 1e-5, `image ${b} pixel ${i}: ${x} vs ${want.data[i]}`));
      assert.ok(Math.abs(Math.max(...maps[b].data) - 1) < 1e-6);
    }
    assert.throws(() => acc.track(tf.zeros([1, 3, 4, 3]) as tf.Tensor4D), /image is \[1,3,4,3\], the accumulator \[2,3,4,3\]/);
    const before = tf.memory().numTensors;
    acc.dispose();
    assert.strictEqual(tf.memory().numTensors, before - 1);
    tf.dispose([img, w, v, expect]);
  });
});
