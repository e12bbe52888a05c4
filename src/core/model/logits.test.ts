// Logits of a classifier that ends without a softmax (like Tiny Darknet: global average pooling over the class
// channels): the model's [N, classes] output is the logits when the class names beside it count the same.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../backend';
import { parseUnits } from '../render/objectives/spec';
import { describeModel, formatDescription } from './describe';
import { loadModel } from './index';

const LABELS = ['tench', 'goldfish', 'great white shark', 'tiger shark'];

/** A layers model.json: 1x1 conv to 4 channels, then global average pooling (no softmax). */
async function writeGapModel(dir: string): Promise<void> {
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 1, name: 'conv_classes' }),
      tfl.layers.globalAveragePooling2d({ name: 'avg_pool' }),
    ],
  });
  await m.save(tf.io.withSaveHandler(async (a) => {
    const specs = a.weightSpecs!;
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  m.dispose();
}

describe('logits without a final softmax', () => {
  let dir: string;
  before(async () => {
    await initBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-gap-'));
    await writeGapModel(dir);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('without class names the output is not taken as logits', async () => {
    const m = await loadModel(dir);
    try {
      assert.equal(m.logitsLayer, null);
      assert.match(formatDescription(describeModel(m)), /logits: none found/);
    } finally {
      m.dispose();
    }
  });

  it('with class names of another count the output is not taken as logits', async () => {
    fs.writeFileSync(path.join(dir, 'labels.txt'), LABELS.slice(0, 3).join('\n'));
    const m = await loadModel(dir);
    try {
      assert.equal(m.logitsLayer, null);
    } finally {
      m.dispose();
      fs.rmSync(path.join(dir, 'labels.txt'));
    }
  });

  it('the [N, 4] output with 4 class names is the logits: describe says how, and logit:goldfish is channel 1', async () => {
    fs.writeFileSync(path.join(dir, 'labels.txt'), LABELS.join('\n'));
    const m = await loadModel(dir);
    try {
      assert.equal(m.logitsLayer, 'avg_pool');
      assert.equal(m.classCount, 4);
      const d = describeModel(m);
      assert.equal(d.classes, 4);
      assert.ok(d.layers.find((l) => l.name === 'avg_pool')!.isLogits);
      assert.match(formatDescription(d), /logits: avg_pool \(4 classes\), the model's output: \[N, 4\] matches the 4 class names and no softmax follows/);
      const [u] = parseUnits(m, ['logit:goldfish']);
      assert.equal(u.terms[0].layer, 'avg_pool');
      assert.equal(u.terms[0].spec, 'logit:1');
      assert.match(u.label, /goldfish/);
    } finally {
      m.dispose();
      fs.rmSync(path.join(dir, 'labels.txt'));
    }
  });
});
