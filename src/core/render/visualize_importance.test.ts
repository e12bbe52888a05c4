import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { loadModel } from '../model';
import { preprocessImage } from '../model/preprocess';
import { fixture } from '../testing/fixtures';
import { parseUnits, unitObjective } from './objectives';
import { createParam, paramNames, registerParam, unregisterParam } from './param';
import { createPixelParam } from './param/pixel';
import { normaliseImportance } from './param/importance';
import { applyTransforms } from './transforms';
import { Rng } from './rng';
import { visualize } from './visualize';

describe('visualize: the importance map of parameterizations that ask for it', function () {
  // A parameterization that exists only in this test: pixel, asking for the importance map.
  before(async () => {
    await initBackend('wasm');
    registerParam({ name: 'test-importance', title: 'Test', description: 'pixel with the importance map (tests only)', importance: true, create: createPixelParam });
  });
  after(() => {
    unregisterParam('test-importance');
    assert.ok(!paramNames().includes('test-importance'));
  });

  it('is |d objective / d image| summed over steps, normalised; tensor count flat; absent otherwise', async () => {
    const model = await loadModel(path.join(fixture('models'), 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      const units = parseUnits(model, ['logit:1', 'logit:309']);
      const counts: number[] = [];
      const before = tf.memory().numTensors;
      const res = await visualize(model, units, { param: 'test-importance', steps: 5, size: 32, seed: 2, onProgress: () => counts.push(tf.memory().numTensors) });
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      assert.ok(counts.every((n) => n === counts[0]), `tensor count per step ${counts.join(',')}`);
      for (const r of res.units) {
        const m = r.importance;
        assert.ok(m, 'importance returned');
        assert.deepEqual([m.height, m.width, m.channels], [32, 32, 1]);
        assert.ok(m.data.every((v) => v >= 0 && v <= 1) && Math.abs(Math.max(...m.data) - 1) < 1e-6);
        assert.ok(m.data.filter((v) => v === 1).length >= 0.2 * 32 * 32 - 1, 'the top 20% is clipped to 1');
      }
      const plain = await visualize(model, units, { param: 'pixel', steps: 2, size: 32, seed: 2 });
      assert.ok(plain.units.every((r) => r.importance === undefined));

      // One step without transforms: the map is the normalised |gradient| at the initial image (same seed as visualize's first chunk).
      const one = await visualize(model, units, { param: 'test-importance', steps: 1, size: 32, seed: 2, transforms: 'none' });
      const p = createParam('pixel', { batch: 2, height: 32, width: 32, channels: 3, seed: 2 * 7919 });
      const objective = unitObjective(model, units);
      const g = tf.tidy(() => tf.abs(tf.grad((img: tf.Tensor) => {
        const x = preprocessImage(model, applyTransforms(img as tf.Tensor4D, [], new Rng(0), [224, 224]));
        return tf.sum(objective.evaluate(model.tap(objective.layers, x)));
      })(p.image())));
      const gd = (await g.data()) as Float32Array;
      tf.dispose([g]);
      objective.dispose();
      p.dispose();
      let worst = 0;
      one.units.forEach((r, b) => {
        const want = normaliseImportance(gd.subarray(b * 32 * 32 * 3, (b + 1) * 32 * 32 * 3), 32, 32, 3);
        r.importance!.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - want.data[i])); });
      });
      console.log(`      one step: max |map - normalised |gradient|| = ${worst.toExponential(2)}`);
      assert.ok(worst < 1e-4, `max difference ${worst}`);
    } finally {
      model.dispose();
    }
  });
});
