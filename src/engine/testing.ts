// Test helper: writes a tiny, seeded TF.js layers model (model.json + weights.bin) so engine and editor
// tests run real jobs in well under a second per step. Test-only; never bundled.
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';

/** A 32x32x3 CNN: conv_a (8 ch) -> conv_b (16 ch, stride 2) -> global pool -> logits (10) -> softmax. */
export async function writeTinyModel(dir: string): Promise<string> {
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [32, 32, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv_a', kernelInitializer: init(1), biasInitializer: 'zeros' }),
      tfl.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'conv_b', kernelInitializer: init(2), biasInitializer: 'zeros' }),
      tfl.layers.globalAveragePooling2d({ name: 'pool' }),
      tfl.layers.dense({ units: 10, name: 'logits', kernelInitializer: init(3) }),
      tfl.layers.activation({ activation: 'softmax', name: 'probs' }),
    ],
  });
  let artifacts: tf.io.ModelArtifacts | undefined;
  await m.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  m.dispose();
  fs.mkdirSync(dir, { recursive: true });
  const data = artifacts!.weightData as ArrayBuffer;
  fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(data));
  const file = path.join(dir, 'model.json');
  fs.writeFileSync(file, JSON.stringify({
    format: 'layers-model',
    modelTopology: artifacts!.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts!.weightSpecs }],
  }));
  fs.writeFileSync(path.join(dir, 'labels.txt'), ['tee', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'boot'].join('\n'));
  return file;
}

/**
 * A valid model.json of about `mb` MB in the folder `dir`: the model of `tinyModel` (a model.json written by
 * writeTinyModel) with a long training history in its metadata, so that it is slow to parse and big in
 * memory (to test cancelling a load, the load timeout and the engine's heap limit).
 */
export function writeLargeModel(dir: string, tinyModel: string, mb: number): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(path.dirname(tinyModel))) fs.copyFileSync(path.join(path.dirname(tinyModel), f), path.join(dir, f));
  const json = JSON.parse(fs.readFileSync(tinyModel, 'utf8'));
  const file = path.join(dir, 'model.json');
  const head = JSON.stringify({ ...json, userDefinedMetadata: { history: [] } }).replace(/\[\]\}\}$/, '');
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, `${head}[`);
    const chunk = '0.5,'.repeat(256 * 1024);
    for (let i = 0; i < mb; i++) fs.writeSync(fd, chunk);
    fs.writeSync(fd, '0]}}');
  } finally {
    fs.closeSync(fd);
  }
  return file;
}
