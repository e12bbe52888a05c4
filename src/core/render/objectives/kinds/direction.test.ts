import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../../backend';
import { embeddedModelPath, loadModel } from '../../../model';
import { preprocessImage } from '../../../model/preprocess';
import { fitToInput, readImage } from '../../../image';
import { fixture } from '../../../testing/fixtures';
import { Rng } from '../../rng';
import { parseUnits, unitObjective } from '..';

/** The objective values of `specs` (one image each) and the activations [B, P, C] of `layer`. */
async function valuesAndActs(model: Awaited<ReturnType<typeof loadModel>>, specs: string[], layer: string, x: tf.Tensor4D) {
  const o = unitObjective(model, parseUnits(model, specs));
  const [values, act] = tf.tidy(() => {
    const acts = model.tap([...new Set([...o.layers, layer])], x);
    const byName = new Map([...new Set([...o.layers, layer])].map((n, i) => [n, acts[i]]));
    return [o.evaluate(o.layers.map((n) => byName.get(n)!)), tf.reshape(byName.get(layer)!, [x.shape[0], -1, byName.get(layer)!.shape.at(-1)!])];
  });
  const out = { values: [...(await values.data())], act: (await act.array()) as number[][][] };
  tf.dispose([values, act]);
  o.dispose();
  return out;
}

describe('direction: and cosine: units', () => {
  before(async () => { await initBackend('wasm'); });

  it('on MobileNet and a real photo: direction is the hand-computed mean dot product, cosine the mean cosine', async () => {
    const model = await loadModel(path.join(fixture('models'), 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-direction-'));
    try {
      const layer = 'conv_pw_6_relu';
      const c = model.layers.find((l) => l.name === layer)!.channels;
      const rng = new Rng(5);
      const v = Array.from({ length: c }, () => rng.next() * 2 - 1);
      const file = path.join(dir, 'concept.json');
      fs.writeFileSync(file, JSON.stringify(v));
      const photo = fitToInput(readImage(fixture('images', 'coral_bird.png')), 224, 224, 3).image;
      const x = tf.tidy(() => preprocessImage(model, tf.tensor4d(photo.data, [1, 224, 224, 3])));
      const specs = [`direction:${layer}:${file}`, `direction:${layer}:3=1,7=-0.5`, `cosine:${layer}:${file}`, `cosine:${layer}:3=1,7=-0.5`];
      const xs = tf.concat([x, x, x, x]) as tf.Tensor4D;
      const { values, act } = await valuesAndActs(model, specs, layer, xs);
      tf.dispose([x, xs]);
      const rows = act[0];
      const v2 = new Array(c).fill(0); v2[3] = 1; v2[7] = -0.5;
      const dot = (a: number[], w: number[]) => a.reduce((s, ai, i) => s + ai * w[i], 0);
      const norm = (a: number[]) => Math.sqrt(dot(a, a));
      const meanDot = (w: number[]) => rows.reduce((s, r) => s + dot(r, w), 0) / rows.length;
      const meanCos = (w: number[]) => rows.reduce((s, r) => s + (norm(r) ? dot(r, w) / (norm(r) * norm(w)) : 0), 0) / rows.length;
      const want = [meanDot(v), meanDot(v2), meanCos(v), meanCos(v2)];
      console.log(`      ${specs.map((s, i) => `${s.replace(file, 'concept.json')}: ${values[i].toFixed(5)} (by hand ${want[i].toFixed(5)})`).join('\n      ')}`);
      values.forEach((got, i) => assert.ok(Math.abs(got - want[i]) <= 1e-4 * Math.max(1, Math.abs(want[i])), `${specs[i]}: ${got} vs ${want[i]}`));
      for (const k of [2, 3]) assert.ok(values[k] >= -1 && values[k] <= 1, `cosine ${values[k]} in [-1, 1]`);
      assert.ok(Math.abs(values[0]) > 1e-3 && Math.abs(values[1]) > 1e-3, 'the photo gives non-trivial values');
    } finally {
      fs.rmSync(dir, { recursive: true });
      model.dispose();
    }
  });

  it('on a ViT layer the direction is the mean over tokens; a unit direction at the logits is the logit', async () => {
    const model = await loadModel(embeddedModelPath('fashion_vit'));
    try {
      const x = tf.tidy(() => tf.tile(tf.randomUniform([1, 28, 28, 1], 0, 1, 'float32', 9), [3, 1, 1, 1])) as tf.Tensor4D;
      const { values, act } = await valuesAndActs(model, ['direction:block_2:5=2,9=-1', 'direction:logits:4=1', 'logit:4'], 'block_2', x);
      x.dispose();
      const tokens = act[0];
      const want = tokens.reduce((s, t) => s + 2 * t[5] - t[9], 0) / tokens.length;
      assert.ok(Math.abs(values[0] - want) < 1e-4 * Math.max(1, Math.abs(want)), `${values[0]} vs ${want}`);
      assert.ok(Math.abs(values[1] - values[2]) < 1e-5 * Math.max(1, Math.abs(values[2])), `direction:logits:4=1 ${values[1]} vs logit:4 ${values[2]}`);
    } finally {
      model.dispose();
    }
  });
});
