import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../backend';
import { fixture } from '../testing/fixtures';
import { readImage, fitToInput } from '../image';
import { describeModel } from './describe';
import { loadModel, type NLModel } from './index';

const MODELS = fixture('models');

/** tfjs-layers' own loader and predict: an independent reference for our Keras-config interpreter. */
async function referencePredict(dir: string, x: tf.Tensor4D): Promise<Float32Array> {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = json.weightsManifest.flatMap((g: any) => g.weights);
  const data = Buffer.concat(json.weightsManifest.flatMap((g: any) => g.paths.map((p: string) => fs.readFileSync(path.join(dir, p)))));
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }));
  const y = model.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  y.dispose();
  model.dispose();
  return out;
}

function photo(model: NLModel, name: string): tf.Tensor4D {
  const { image } = fitToInput(readImage(fixture('images', name)), model.input.height, model.input.width, model.input.channels);
  return tf.tidy(() => {
    const x = tf.tensor4d(image.data, [1, image.height, image.width, image.channels]);
    return tf.add(tf.mul(x, tf.tensor1d(model.preprocess.scale)), tf.tensor1d(model.preprocess.offset));
  });
}

describe('model loading (TF.js formats)', () => {
  before(async () => { await initBackend('cpu'); });

  const cases: [string, string, number][] = [
    ['mobilenet_v1_0.25_224', 'conv_preds', 1000],
    ['mobilenet_v1_0.75_224', 'conv_preds', 1000],
    ['mobilenet_v2_1.0_224_quant', 'reshape_64', 1001],
    ['mobilenet_v1_0.5_160_quant', 'reshape_29', 1001],
  ];
  for (const [name, logits, classes] of cases) {
    it(`${name}: describe finds the logits, and the softmax output equals tfjs-layers' predict`, async () => {
      const model = await loadModel(path.join(MODELS, name), { inputRange: [-1, 1] });
      try {
        const d = describeModel(model);
        assert.equal(d.format, 'tfjs-layers');
        assert.equal(d.logitsLayer, logits);
        assert.equal(d.classes, classes);
        assert.ok(d.layers.find((l) => l.name === logits)!.isLogits);
        for (const l of d.layers) assert.equal(l.channels, l.outputShape[l.outputShape.length - 1]);
        const x = tf.randomUniform([2, model.input.height, model.input.width, 3], -1, 1, 'float32', 7) as tf.Tensor4D;
        const last = model.layers[model.layers.length - 1].name;
        const [ours] = model.tap([last], x);
        const ref = await referencePredict(path.join(MODELS, name), x);
        const got = await ours.data();
        let maxErr = 0;
        for (let i = 0; i < ref.length; i++) maxErr = Math.max(maxErr, Math.abs(got[i] - ref[i]));
        assert.ok(maxErr < 1e-5, `max abs difference to tfjs-layers ${maxErr}`);
        tf.dispose([x, ours]);
      } finally {
        model.dispose();
      }
    });
  }

  it('classifies a real photo: chickadee for coral_bird.png with mobilenet_v1_0.75_224', async () => {
    const model = await loadModel(path.join(MODELS, 'mobilenet_v1_0.75_224'), { inputRange: [-1, 1] });
    try {
      const x = photo(model, 'coral_bird.png');
      const [logits] = model.tap(['conv_preds'], x);
      const top = (await tf.argMax(tf.reshape(logits, [1, -1]), 1).data())[0];
      assert.match(model.classNames![top], /chickadee/);
      tf.dispose([x, logits]);
    } finally {
      model.dispose();
    }
  });

  it('loads the graph model, finds its logits, and agrees with the layers model on a photo', async () => {
    const graph = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224_graph'), { inputRange: [0, 1] });
    const layers = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      assert.equal(graph.format, 'tfjs-graph');
      assert.match(graph.logitsLayer!, /Logits/);
      const d = describeModel(graph);
      assert.equal(d.classes, 1001);
      const [g] = graph.tap([graph.logitsLayer!], photo(graph, 'coral_bird.png'));
      const [l] = layers.tap(['conv_preds'], photo(layers, 'coral_bird.png'));
      const gTop = (await tf.argMax(g, 1).data())[0];
      const lTop = (await tf.argMax(tf.reshape(l, [1, -1]), 1).data())[0];
      assert.equal(gTop, lTop + 1, 'graph model (1001 classes, background first) and layers model agree');
    } finally {
      graph.dispose();
      layers.dispose();
    }
  });

  it('gradients flow to the input through a layers model', async () => {
    const model = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      const before = tf.memory().numTensors;
      const norm = tf.tidy(() => {
        const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 3) as tf.Tensor4D;
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.slice(tf.reshape(model.tap(['conv_preds'], v as tf.Tensor4D)[0], [1, -1]), [0, 5], [1, 1])))(x);
        return tf.norm(g);
      });
      assert.ok((await norm.data())[0] > 0);
      norm.dispose();
      assert.equal(tf.memory().numTensors, before);
    } finally {
      model.dispose();
    }
  });

  describe('errors name the problem', () => {
    let tmp: string;
    beforeEach(() => {
      tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-model-'));
      for (const f of fs.readdirSync(path.join(MODELS, 'mobilenet_v1_0.25_224'))) {
        fs.copyFileSync(path.join(MODELS, 'mobilenet_v1_0.25_224', f), path.join(tmp, f));
      }
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const editJson = (f: (j: any) => void) => {
      const p = path.join(tmp, 'model.json');
      const j = JSON.parse(fs.readFileSync(p, 'utf8'));
      f(j);
      fs.writeFileSync(p, JSON.stringify(j));
    };

    it('missing model file', async () => {
      await assert.rejects(loadModel(path.join(tmp, 'nope.json')), /model not found: .*nope\.json/);
    });
    it('folder without model.json', async () => {
      fs.rmSync(path.join(tmp, 'model.json'));
      await assert.rejects(loadModel(tmp), /folder without a model\.json/);
    });
    it('missing shard', async () => {
      fs.rmSync(path.join(tmp, 'group3-shard1of1'));
      await assert.rejects(loadModel(tmp), /missing weight shard: .*group3-shard1of1/);
    });
    it('truncated shard', async () => {
      const p = path.join(tmp, 'group1-shard1of1');
      fs.writeFileSync(p, fs.readFileSync(p).subarray(0, 10));
      await assert.rejects(loadModel(tmp), /hold 10 bytes but the manifest needs \d+/);
    });
    it('a manifest path that leaves the folder', async () => {
      editJson((j) => { j.weightsManifest[0].paths[0] = '../../etc/passwd'; });
      await assert.rejects(loadModel(tmp), /leaves the model folder/);
    });
    it('an absolute or URL manifest path', async () => {
      editJson((j) => { j.weightsManifest[0].paths[0] = 'https://example.com/w.bin'; });
      await assert.rejects(loadModel(tmp), /not a relative path inside the model folder/);
    });
    it('invalid JSON', async () => {
      fs.writeFileSync(path.join(tmp, 'model.json'), '{"modelTopology": ');
      await assert.rejects(loadModel(tmp), /model\.json is not valid JSON/);
    });
    it('a Lambda layer is refused by name, no code runs', async () => {
      editJson((j) => {
        const layers = j.modelTopology.model_config.config.layers;
        const i = layers.findIndex((l: any) => l.name === 'conv1_relu');
        layers[i] = { ...layers[i], class_name: 'Lambda', config: { name: 'conv1_relu', function: ['print("pwned")', null, null] } };
      });
      await assert.rejects(loadModel(tmp), /layer "conv1_relu" \(Lambda\): unsupported layer class "Lambda"/);
    });
    it('a bad neuron-lens.json', async () => {
      fs.writeFileSync(path.join(tmp, 'neuron-lens.json'), JSON.stringify({ inputRange: [0] }));
      await assert.rejects(loadModel(tmp), /neuron-lens\.json: "inputRange" must be \[lo, hi\]/);
    });
    it('neuron-lens.json declares the input range', async () => {
      fs.writeFileSync(path.join(tmp, 'neuron-lens.json'), JSON.stringify({ inputRange: [-1, 1] }));
      const m = await loadModel(tmp);
      assert.deepEqual([m.preprocess.scale[0], m.preprocess.offset[0]], [2, -1]);
      m.dispose();
    });
  });
});
