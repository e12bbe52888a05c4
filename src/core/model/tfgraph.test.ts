// The TF.js graph-model interpreter (./tfgraph.ts) against tfjs-converter's executor on the fixture TF-Hub
// MobileNet v1 0.25: outputs, an intermediate tensor and input gradients at batch 2, and the executor fallback.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfc from '@tensorflow/tfjs-converter';
import { initBackend } from '../backend';
import { fixture } from '../testing/fixtures';
import { loadModel, type NLModel } from './index';
import { interpretGraph } from './tfgraph';

const DIR = fixture('models', 'mobilenet_v1_0.25_224_graph');
const MID = 'module_apply_default/MobilenetV1/MobilenetV1/Conv2d_5_pointwise/Relu6';

async function executor(dir: string): Promise<tfc.GraphModel> {
  const mj = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const w = fs.readFileSync(path.join(dir, mj.weightsManifest[0].paths[0]));
  return tfc.loadGraphModel(tf.io.fromMemory({ modelTopology: mj.modelTopology, weightSpecs: mj.weightsManifest[0].weights, weightData: w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength) }));
}

function maxRel(a: tf.Tensor, ref: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, ref))).dataSync()[0] / tf.max(tf.abs(ref)).dataSync()[0]);
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`TF.js graph models run node by node, weights as constants (${backend})`, function () {
    this.timeout(120000);
    let m: NLModel;
    let ref: tfc.GraphModel;
    before(async () => {
      await initBackend(backend);
      m = await loadModel(DIR, { inputRange: [0, 1] });
      ref = await executor(DIR);
    });
    after(() => { m?.dispose(); ref?.dispose(); });

    it('lists each convolution with its batch norm and Relu6 as one layer, and the logits', () => {
      const mid = m.layers.find((l) => l.name === MID)!;
      assert.deepEqual([mid.kind, mid.outputShape], ['Conv2D', [null, 28, 28, 64]]);
      assert.ok(!m.layers.some((l) => /FusedBatchNorm/.test(l.name)), 'batch norm nodes are inside the conv layers');
      assert.equal(m.logitsLayer, 'module_apply_default/MobilenetV1/Logits/SpatialSqueeze');
      assert.equal(m.classCount, 1001);
    });

    it('logits, a Relu6 output and input gradients match the executor at batch 2 (max rel < 1e-4), no tensor left', () => {
      const x = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const n0 = tf.memory().numTensors;
      tf.tidy(() => {
        const [lg, mid] = m.tap([m.logitsLayer!, MID], x);
        const [rl, rm] = ref.execute(x, [m.logitsLayer!, MID]) as tf.Tensor[];
        assert.ok(maxRel(lg, rl) < 1e-4, `logits ${maxRel(lg, rl)}`);
        assert.ok(maxRel(mid, rm) < 1e-4, `${MID} ${maxRel(mid, rm)}`);
        const obj = (acts: tf.Tensor[]) => tf.add(tf.sum(tf.slice(acts[0], [0, 2], [-1, 3])), tf.mean(tf.slice(acts[1], [0, 0, 0, 7], [-1, -1, -1, 1]))) as tf.Scalar;
        const g = tf.grad((v: tf.Tensor) => obj(m.tap([m.logitsLayer!, MID], v as tf.Tensor4D)))(x);
        const gr = tf.grad((v: tf.Tensor) => obj(ref.execute(v, [m.logitsLayer!, MID]) as tf.Tensor[]))(x);
        assert.ok(maxRel(g, gr) < 1e-4, `input gradient ${maxRel(g, gr)}`);
      });
      assert.equal(tf.memory().numTensors, n0);
      x.dispose();
    });
  });
}

describe('a graph model with an op the interpreter lacks runs with the executor', () => {
  let tmp: string;
  before(async () => {
    await initBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-graph-'));
    for (const f of fs.readdirSync(DIR)) fs.copyFileSync(path.join(DIR, f), path.join(tmp, f));
    const mj = JSON.parse(fs.readFileSync(path.join(tmp, 'model.json'), 'utf8'));
    mj.modelTopology.node.find((n: any) => n.name === 'module_apply_default/MobilenetV1/MobilenetV1/Conv2d_0/Relu6').op = 'Elu';
    fs.writeFileSync(path.join(tmp, 'model.json'), JSON.stringify(mj));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('loads, lists every op node, and its logits equal the executor\'s', async () => {
    const m = await loadModel(tmp, { inputRange: [0, 1] });
    const ref = await executor(tmp);
    try {
      assert.ok(m.layers.some((l) => l.kind === 'Elu'));
      assert.ok(m.layers.some((l) => /FusedBatchNorm$/.test(l.name)), 'the executor path lists the batch norm adds');
      tf.tidy(() => {
        const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
        const [lg] = m.tap([m.logitsLayer!], x);
        assert.ok(maxRel(lg, ref.execute(x, m.logitsLayer!) as tf.Tensor) < 1e-5);
      });
    } finally {
      m.dispose();
      ref.dispose();
    }
  });
});

describe('graph interpreter: a Reshape that holds an exported batch of 1, then a MatMul', () => {
  before(async () => { await initBackend('cpu'); });

  it('a batch of 3 gives the 3 single-image runs (the [1, -1] reshape takes the batch)', () => {
    const i32 = (name: string) => ({ name, op: 'Const', attr: { dtype: { type: 'DT_INT32' } } });
    const nodes = [
      { name: 'x', op: 'Placeholder' },
      i32('shape'), { name: 'w', op: 'Const' }, { name: 'b', op: 'Const' },
      { name: 'flat', op: 'Reshape', input: ['x', 'shape'] },
      { name: 'dense', op: '_FusedMatMul', input: ['flat', 'w', 'b'], attr: { fused_ops: { list: { s: [Buffer.from('BiasAdd').toString('base64'), Buffer.from('Relu').toString('base64')] } } } },
    ];
    const weights = { shape: tf.tensor1d([1, -1], 'int32'), w: tf.randomNormal([2 * 2 * 3, 5], 0, 1, 'float32', 1), b: tf.randomNormal([5], 0, 1, 'float32', 2) };
    const g = interpretGraph('test.json', nodes, 'x', weights);
    assert.ok(!('unsupported' in g), JSON.stringify(g));
    try {
      const n0 = tf.memory().numTensors;
      tf.tidy(() => {
        const x = tf.randomNormal([3, 2, 2, 3], 0, 1, 'float32', 3) as tf.Tensor4D;
        const [y] = g.run(x, ['dense']);
        assert.deepEqual(y.shape, [3, 5]);
        const want = tf.relu(tf.add(tf.matMul(tf.reshape(x, [3, 12]), weights.w), weights.b));
        assert.ok(maxRel(y, want) < 1e-6);
        const gx = tf.grad((v: tf.Tensor) => tf.sum(g.run(v as tf.Tensor4D, ['dense'])[0]))(x);
        const gw = tf.grad((v: tf.Tensor) => tf.sum(tf.relu(tf.add(tf.matMul(tf.reshape(v, [3, 12]), weights.w), weights.b))))(x);
        assert.ok(maxRel(gx, gw) < 1e-6);
      });
      assert.equal(tf.memory().numTensors, n0);
    } finally {
      g.dispose();
    }
  });
});

describe('graph interpreter: nodes in a form it does not run', () => {
  it('a convolution with a computed filter is reported, and its weights are freed', () => {
    const w = { y: tf.ones([1]) };
    const g = interpretGraph('test.json', [
      { name: 'x', op: 'Placeholder' }, { name: 'y', op: 'Const' },
      { name: 'f', op: 'Mul', input: ['x', 'y'] },
      { name: 'c', op: 'Conv2D', input: ['x', 'f'], attr: { padding: { s: Buffer.from('SAME').toString('base64') }, strides: { list: { i: ['1', '1', '1', '1'] } } } },
    ], 'x', w);
    assert.ok('unsupported' in g);
    assert.match(g.unsupported.join(), /test\.json: node c \(Conv2D\): the filter f is computed at run time/);
    assert.ok(w.y.isDisposed);
  });
});

describe('graph interpreter: pooling', () => {
  it('MaxPool (SAME) and AvgPool (VALID) equal the TF.js ops, values and input gradient', () => {
    const enc = (v: string) => Buffer.from(v).toString('base64');
    const pool = (name: string, op: string, input: string, pad: string) => ({ name, op, input: [input], attr: { ksize: { list: { i: ['1', '3', '3', '1'] } }, strides: { list: { i: ['1', '2', '2', '1'] } }, padding: { s: enc(pad) } } });
    const g = interpretGraph('test.json', [{ name: 'x', op: 'Placeholder' }, pool('mp', 'MaxPool', 'x', 'SAME'), pool('ap', 'AvgPool', 'mp', 'VALID')], 'x', {});
    assert.ok(!('unsupported' in g), JSON.stringify(g));
    tf.tidy(() => {
      const x = tf.randomNormal([2, 9, 9, 4], 0, 1, 'float32', 4) as tf.Tensor4D;
      const ref = (v: tf.Tensor) => tf.avgPool(tf.maxPool(v as tf.Tensor4D, 3, 2, 'same'), 3, 2, 'valid');
      assert.ok(maxRel(g.run(x, ['ap'])[0], ref(x)) < 1e-6);
      assert.ok(maxRel(tf.grad((v: tf.Tensor) => tf.sum(tf.square(g.run(v as tf.Tensor4D, ['ap'])[0])))(x), tf.grad((v: tf.Tensor) => tf.sum(tf.square(ref(v))))(x)) < 1e-6);
    });
    g.dispose();
  });
});
