import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { parseUnits, unitObjective } from '../render/objectives';
import { visualize } from '../render/visualize';
import { preprocessImage } from './preprocess';
import { describeModel } from './describe';
import { embeddedModelPath, embeddedModelsDir, loadModel, DEFAULT_MODEL } from './index';

interface Reference { images: number[][]; labels: number[]; logits: number[][]; testAccuracy: number }

describe('embedded default models', () => {
  before(async () => { await initBackend('wasm'); });

  it('the default model is the CNN, and both models are in models/', () => {
    assert.equal(path.basename(path.dirname(embeddedModelPath())), DEFAULT_MODEL);
    assert.ok(fs.existsSync(path.join(embeddedModelsDir(), 'fashion_vit', 'model.json')));
  });

  for (const name of ['fashion_cnn', 'fashion_vit']) {
    it(`${name}: logits equal PyTorch's on real test images, with the stated accuracy`, async () => {
      const dir = path.join(embeddedModelsDir(), name);
      const ref: Reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
      const model = await loadModel(dir);
      try {
        assert.deepEqual(model.input, { height: 28, width: 28, channels: 1 });
        assert.equal(model.logitsLayer, 'logits');
        assert.equal(model.classNames?.length, 10);
        const x = tf.tensor4d(ref.images.flat(), [ref.images.length, 28, 28, 1]);
        const [logits] = model.tap(['logits'], preprocessImage(model, x));
        const got = (await logits.array()) as number[][];
        tf.dispose([x, logits]);
        got.forEach((row, i) => {
          const scale = Math.max(...ref.logits[i].map(Math.abs));
          row.forEach((v, k) => assert.ok(Math.abs(v - ref.logits[i][k]) <= 1e-4 * scale, `${name} image ${i} logit ${k}: ${v} vs ${ref.logits[i][k]}`));
        });
        assert.ok(ref.testAccuracy > 0.8, `stated test accuracy ${ref.testAccuracy}`);
      } finally {
        model.dispose();
      }
    });
  }

  it('the ViT exposes its blocks as [batch, tokens, dim] layers and vit: units optimize them', async () => {
    const model = await loadModel(path.join(embeddedModelsDir(), 'fashion_vit'));
    try {
      const block = describeModel(model).layers.find((l) => l.name === 'block_2')!;
      assert.deepEqual(block.outputShape, [null, 50, 64]);
      const units = parseUnits(model, ['vit:block_2:5', 'vit:block_2:5:nocls', 'vit:block_1:0-1']);
      assert.deepEqual(units.map((u) => u.spec), ['vit:block_2:5', 'vit:block_2:5:nocls', 'vit:block_1:0', 'vit:block_1:1']);
      // The objective is the token mean of a hidden dimension, with or without the CLS token.
      const objective = unitObjective(model, units.slice(0, 2));
      const [act, value] = tf.tidy(() => {
        const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
        const [a] = model.tap(['block_2'], x);
        return [a, objective.evaluate([a])];
      });
      const a = (await act.array()) as number[][][];
      const v = await value.data();
      const mean = (rows: number[][]) => rows.reduce((s, r) => s + r[5], 0) / rows.length;
      assert.ok(Math.abs(v[0] - mean(a[0])) < 1e-5);
      assert.ok(Math.abs(v[1] - mean(a[1].slice(1))) < 1e-5);
      tf.dispose([act, value]);
      objective.dispose();

      const before = await visualize(model, units, { steps: 1, seed: 2 });
      const after = await visualize(model, units, { steps: 48, seed: 2 });
      console.log(`      ${after.units.map((u, i) => `${u.unit.spec}: ${before.units[i].activation.toFixed(2)} -> ${u.activation.toFixed(2)}`).join(", ")}`);
      after.units.forEach((u, i) => assert.ok(u.activation > before.units[i].activation + 0.1, `${u.unit.spec}: ${before.units[i].activation} -> ${u.activation}`));
    } finally {
      model.dispose();
    }
  });
});
