// Keras files built here from the TF.js fixtures' weights (same topology, known outputs), in the layouts
// Keras writes: legacy .h5 (model_config + model_weights/<layer>/<weight name>) and .keras (config.json in
// Keras 3 form + model.weights.h5 with layers/<snake class>[_n]/vars/<i>).
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { zipSync, strToU8 } from 'fflate';
import type * as H5 from 'h5wasm';
import { initBackend } from '../backend';
import { fixture } from '../testing/fixtures';
import { describeModel } from './describe';
import { loadModel } from './index';
import { toSnakeCase } from './kerasfile';

const MODELS = fixture('models');

interface Weight { name: string; shape: number[]; data: Float32Array }
interface Fixture { json: any; topology: any; weights: Weight[] }

/** A TF.js layers fixture: its Keras config and its decoded (float32) weights, in manifest order. */
function readFixture(name: string): Fixture {
  const dir = path.join(MODELS, name);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const specs = json.weightsManifest.flatMap((g: any) => g.weights);
  const data = Buffer.concat(json.weightsManifest.flatMap((g: any) => g.paths.map((p: string) => fs.readFileSync(path.join(dir, p)))));
  const named = tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength), specs);
  const weights = specs.map((s: any) => ({ name: s.name, shape: named[s.name].shape, data: named[s.name].dataSync() as Float32Array }));
  tf.dispose(Object.values(named));
  return { json, topology: JSON.parse(JSON.stringify(json.modelTopology.model_config ?? json.modelTopology)), weights };
}

/** tfjs-layers' own loader and predict on the fixture: an independent reference. */
async function referencePredict(f: Fixture, x: tf.Tensor4D): Promise<Float32Array> {
  const specs = f.weights.map((w) => ({ name: w.name, shape: w.shape, dtype: 'float32' as const }));
  const buf = Buffer.concat(f.weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)));
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: f.json.modelTopology, weightSpecs: specs, weightData: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) }));
  const y = model.predict(x) as tf.Tensor;
  const out = (await y.data()) as Float32Array;
  y.dispose();
  model.dispose();
  return out;
}

let h5: typeof H5;
let tmpCount = 0;

/** Builds an HDF5 file with h5wasm (in its memory file system) and returns its bytes. */
function h5Bytes(build: (f: H5.File) => void): Uint8Array {
  const mem = `/test-${++tmpCount}.h5`;
  const f = new h5.File(mem, 'w');
  build(f);
  f.close();
  const bytes = h5.FS!.readFile(mem);
  h5.FS!.unlink(mem);
  return bytes;
}

/** Creates the groups of a slash path below `g` and a float32 dataset at its end. */
function putDataset(g: H5.Group, p: string, w: { shape: number[]; data: Float32Array }): void {
  const parts = p.split('/');
  let cur = g;
  for (const part of parts.slice(0, -1)) cur = (cur.get(part) as H5.Group | null) ?? cur.create_group(part);
  cur.create_dataset({ name: parts[parts.length - 1], data: w.data, shape: w.shape, dtype: '<f' });
}

/** Fixed-length byte strings, as h5py writes Keras' name lists. */
function putNames(g: H5.Group | H5.File, attr: string, names: string[]): void {
  const len = Math.max(1, ...names.map((n) => n.length));
  if (names.length === 0) g.create_attribute(attr, new Float32Array(0), [0], '<f');
  else g.create_attribute(attr, names, [names.length], `S${len}`);
}

/** Weights grouped by layer (the first part of the name), in manifest order. */
function byLayer(weights: Weight[]): Map<string, Weight[]> {
  const m = new Map<string, Weight[]>();
  for (const w of weights) {
    const layer = w.name.split('/')[0];
    m.set(layer, [...(m.get(layer) ?? []), w]);
  }
  return m;
}

/** A Keras 2 legacy .h5: model_config attribute, model_weights/<layer>/<layer>/<weight>:0. */
function legacyH5(topology: any, weights: Weight[], edit?: (names: Map<string, string[]>) => void): Uint8Array {
  const layers: any[] = topology.config.layers;
  const grouped = byLayer(weights);
  const names = new Map(layers.map((l) => [l.name as string, (grouped.get(l.name) ?? []).map((w) => `${w.name}:0`)]));
  edit?.(names);
  return h5Bytes((f) => {
    f.create_attribute('model_config', JSON.stringify(topology));
    f.create_attribute('keras_version', '2.1.4');
    const mw = f.create_group('model_weights');
    putNames(mw, 'layer_names', layers.map((l) => l.name));
    for (const l of layers) {
      const g = mw.create_group(l.name);
      const wn = names.get(l.name)!;
      putNames(g, 'weight_names', wn);
      (grouped.get(l.name) ?? []).forEach((w) => putDataset(g, `${w.name}:0`, w));
    }
  });
}

const dtypePolicy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const kerasTensor = (r: any[]) => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [r[0], r[1], r[2]] } });

/** A Keras 2 functional config rewritten the way Keras 3 serializes it. */
function toKeras3Config(topology: any): any {
  const c = topology.config;
  const layers = c.layers.map((l: any) => {
    const cfg: any = { ...l.config, dtype: dtypePolicy };
    if (l.class_name === 'InputLayer') { cfg.batch_shape = cfg.batch_input_shape; delete cfg.batch_input_shape; cfg.dtype = 'float32'; }
    if (l.class_name === 'Activation') cfg.activation = { module: 'keras.activations', class_name: 'function', config: cfg.activation, registered_name: 'function' };
    const refs: any[] = l.inbound_nodes.length ? l.inbound_nodes[0] : [];
    const inbound = refs.length === 0 ? [] : [{ args: refs.length === 1 ? [kerasTensor(refs[0])] : [refs.map(kerasTensor)], kwargs: Object.assign({}, ...refs.map((r) => r[3] ?? {})) }];
    return { module: 'keras.layers', class_name: l.class_name, config: cfg, registered_name: null, name: l.name, inbound_nodes: inbound };
  });
  return {
    module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
    config: { name: c.name ?? 'model', trainable: true, layers, input_layers: c.input_layers, output_layers: c.output_layers },
  };
}

// Keras' saved-state folder names of the classes used here (naming.to_snake_case).
const SNAKE: Record<string, string> = {
  InputLayer: 'input_layer', Conv2D: 'conv2d', DepthwiseConv2D: 'depthwise_conv2d', BatchNormalization: 'batch_normalization',
  Activation: 'activation', ReLU: 're_lu', ZeroPadding2D: 'zero_padding2d', GlobalAveragePooling2D: 'global_average_pooling2d',
  GlobalAveragePooling1D: 'global_average_pooling1d', AveragePooling2D: 'average_pooling2d', Reshape: 'reshape', Dropout: 'dropout',
  Add: 'add', Softmax: 'softmax', Dense: 'dense', LayerNormalization: 'layer_normalization', MultiHeadAttention: 'multi_head_attention',
};

/** model.weights.h5 in the Keras 3 layout; `sub` gives sublayer weights (path below the layer -> weights). */
function keras3Weights(topology: any, weights: Map<string, Weight[]>, sub: Map<string, Map<string, Weight[]>> = new Map()): Uint8Array {
  return h5Bytes((f) => {
    const root = f.create_group('layers');
    const used = new Map<string, number>();
    for (const l of topology.config.layers) {
      const snake = SNAKE[l.class_name];
      if (!snake) throw new Error(`test: no snake name for ${l.class_name}`);
      const n = used.get(snake) ?? 0;
      used.set(snake, n + 1);
      const g = root.create_group(n === 0 ? snake : `${snake}_${n}`);
      const vars = g.create_group('vars');
      (weights.get(l.name) ?? []).forEach((w, i) => vars.create_dataset({ name: String(i), data: w.data, shape: w.shape, dtype: '<f' }));
      for (const [p, ws] of sub.get(l.name) ?? []) {
        const v = g.create_group(p).create_group('vars');
        ws.forEach((w, i) => v.create_dataset({ name: String(i), data: w.data, shape: w.shape, dtype: '<f' }));
      }
    }
    f.create_group('optimizer').create_group('vars');
  });
}

function kerasZip(config: any, weightsH5: Uint8Array, extra: Record<string, Uint8Array> = {}): Uint8Array {
  return zipSync({
    'metadata.json': strToU8(JSON.stringify({ keras_version: '3.6.0', date_saved: '2024-10-01@12:00:00' })),
    'config.json': strToU8(JSON.stringify(config)),
    'model.weights.h5': weightsH5,
    ...extra,
  }, { level: 0 });
}

async function maxAbsDiff(a: tf.Tensor | Float32Array, b: tf.Tensor | Float32Array): Promise<number> {
  const x = a instanceof Float32Array ? a : ((await a.data()) as Float32Array);
  const y = b instanceof Float32Array ? b : ((await b.data()) as Float32Array);
  assert.equal(x.length, y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

describe('Keras files (.keras, .h5)', function () {
  let tmp: string;
  let v1: Fixture;
  before(async () => {
    await initBackend('cpu');
    h5 = await import('h5wasm');
    await h5.ready;
    v1 = readFixture('mobilenet_v1_0.25_224');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-keras-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const write = (name: string, bytes: Uint8Array): string => { const p = path.join(tmp, name); fs.writeFileSync(p, bytes); return p; };

  it('Keras Python names: toSnakeCase matches naming.to_snake_case', () => {
    for (const [cls, snake] of Object.entries(SNAKE)) assert.equal(toSnakeCase(cls), snake);
    assert.equal(toSnakeCase('SeparableConv2D'), 'separable_conv2d');
  });

  it('legacy .h5 (Keras 2) MobileNet v1: equals tfjs-layers, finds conv_preds, gradients flow', async () => {
    const file = write('mobilenet_v1.h5', legacyH5(v1.topology, v1.weights));
    const model = await loadModel(file, { inputRange: [-1, 1] });
    try {
      const d = describeModel(model);
      assert.equal(d.format, 'keras');
      assert.equal(d.logitsLayer, 'conv_preds');
      assert.equal(d.classes, 1000);
      const x = tf.randomUniform([2, 224, 224, 3], -1, 1, 'float32', 11) as tf.Tensor4D;
      const [out] = model.tap(['reshape_2'], x);
      const err = await maxAbsDiff(out, await referencePredict(v1, x));
      console.log(`      .h5 MobileNet v1 0.25: max |ours - tfjs-layers| = ${err.toExponential(2)}`);
      assert.ok(err < 1e-5, `max abs difference ${err}`);
      const before = tf.memory().numTensors;
      const norm = tf.tidy(() => {
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.slice(tf.reshape(model.tap(['conv_preds'], v as tf.Tensor4D)[0], [2, -1]), [0, 7], [2, 1])))(x);
        return tf.norm(g);
      });
      assert.ok((await norm.data())[0] > 0);
      norm.dispose();
      assert.equal(tf.memory().numTensors, before);
      tf.dispose([x, out]);
    } finally {
      model.dispose();
    }
  });

  it('.keras (Keras 3 config and weights layout) MobileNet v1: equals the TF.js model', async () => {
    const config = toKeras3Config(v1.topology);
    const file = write('mobilenet_v1.keras', kerasZip(config, keras3Weights(v1.topology, byLayer(v1.weights))));
    const model = await loadModel(file, { inputRange: [-1, 1] });
    const ref = await loadModel(path.join(MODELS, 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    try {
      assert.equal(model.logitsLayer, 'conv_preds');
      assert.deepEqual(model.layers.map((l) => [l.name, l.outputShape]), ref.layers.map((l) => [l.name, l.outputShape]));
      const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 12) as tf.Tensor4D;
      const [a, p] = model.tap(['conv_preds', 'reshape_2'], x);
      const [b] = ref.tap(['conv_preds'], x);
      const errLogits = await maxAbsDiff(a, b);
      const errProb = await maxAbsDiff(p, await referencePredict(v1, x));
      console.log(`      .keras MobileNet v1 0.25: logits vs TF.js model ${errLogits.toExponential(2)}, softmax vs tfjs-layers ${errProb.toExponential(2)}`);
      assert.ok(errLogits < 1e-5 && errProb < 1e-5);
      tf.dispose([x, a, b, p]);
    } finally {
      model.dispose();
      ref.dispose();
    }
  });

  it('.keras MobileNet v2 with the Keras-applications stem (asymmetric ZeroPadding2D, ReLU(max_value=6), Add): equals tfjs-layers', async () => {
    const v2 = readFixture('mobilenet_v2_1.0_224_quant');
    // The fixture's first conv is 3x3 stride 2 'same' on 224: TF pads (0,1). Keras applications write that as
    // ZeroPadding2D(((0,1),(0,1))) + 'valid' conv, and ReLU(6.) as its own layer.
    const topo = JSON.parse(JSON.stringify(v2.topology));
    const layers: any[] = topo.config.layers;
    const i = layers.findIndex((l) => l.name === 'conv_2d_0');
    const conv = layers[i];
    assert.equal(conv.config.activation, 'relu6');
    const pad = { class_name: 'ZeroPadding2D', name: 'stem_pad', config: { name: 'stem_pad', padding: [[0, 1], [0, 1]], data_format: 'channels_last' }, inbound_nodes: conv.inbound_nodes };
    conv.config = { ...conv.config, padding: 'valid', activation: 'linear' };
    conv.inbound_nodes = [[['stem_pad', 0, 0, {}]]];
    const relu = { class_name: 'ReLU', name: 'stem_relu', config: { name: 'stem_relu', max_value: 6.0, negative_slope: 0.0, threshold: 0.0 }, inbound_nodes: [[['conv_2d_0', 0, 0, {}]]] };
    for (const l of layers.slice(i + 1)) l.inbound_nodes = l.inbound_nodes.map((n: any[]) => n.map((r: any[]) => (r[0] === 'conv_2d_0' ? ['stem_relu', ...r.slice(1)] : r)));
    layers.splice(i, 1, pad, conv, relu);
    assert.ok(layers.some((l) => l.class_name === 'Add'));
    const file = write('mobilenet_v2.keras', kerasZip(toKeras3Config(topo), keras3Weights(topo, byLayer(v2.weights))));
    const model = await loadModel(file, { inputRange: [-1, 1] });
    try {
      assert.ok(model.layers.some((l) => l.name === 'stem_pad' && l.outputShape[1] === 225));
      const x = tf.randomUniform([1, 224, 224, 3], -1, 1, 'float32', 13) as tf.Tensor4D;
      const last = model.layers[model.layers.length - 1].name;
      const [out] = model.tap([last], x);
      const err = await maxAbsDiff(out, await referencePredict(v2, x));
      console.log(`      .keras MobileNet v2 1.0 (stem rewritten): max |ours - tfjs-layers| = ${err.toExponential(2)}`);
      assert.ok(err < 1e-5, `max abs difference ${err}`);
      tf.dispose([x, out]);
    } finally {
      model.dispose();
    }
  });

  describe('MultiHeadAttention (self-attention, written with matmuls)', () => {
    // A tiny ViT: 16x16x3 image -> 4x4 patches (conv) -> 16 tokens of 12 -> LN -> MHA(3 heads, key_dim 4,
    // value_dim 5) -> residual Add -> mean over tokens -> Dense(6) softmax.
    const D = 12, H = 3, K = 4, V = 5, T = 16, C = 6;
    const rnd = (seed: number, shape: number[], scale = 0.3): Weight => {
      let s = seed;
      const n = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n).map(() => { s = (s * 1103515245 + 12345) % 2147483648; return (s / 2147483648 - 0.5) * 2 * scale; });
      return { name: '', shape, data };
    };
    const mha = {
      query: [rnd(1, [D, H, K]), rnd(2, [H, K])], key: [rnd(3, [D, H, K]), rnd(4, [H, K])],
      value: [rnd(5, [D, H, V]), rnd(6, [H, V])], attention_output: [rnd(7, [H, V, D]), rnd(8, [D])],
    };
    const layerW = new Map<string, Weight[]>([
      ['patch', [rnd(9, [4, 4, 3, D]), rnd(10, [D])]], ['ln', [rnd(11, [D], 1), rnd(12, [D])]], ['head', [rnd(13, [D, C]), rnd(14, [C])]],
    ]);
    const ref = (n: string, node = 0) => [n, node, 0, {}];
    const keras2 = {
      class_name: 'Model',
      config: {
        name: 'tiny_vit', input_layers: [['image', 0, 0]], output_layers: [['head', 0, 0]],
        layers: [
          { class_name: 'InputLayer', name: 'image', config: { name: 'image', batch_input_shape: [null, 16, 16, 3], dtype: 'float32' }, inbound_nodes: [] },
          { class_name: 'Conv2D', name: 'patch', config: { name: 'patch', filters: D, kernel_size: [4, 4], strides: [4, 4], padding: 'valid', activation: 'linear', use_bias: true }, inbound_nodes: [[ref('image')]] },
          { class_name: 'Reshape', name: 'tokens', config: { name: 'tokens', target_shape: [T, D] }, inbound_nodes: [[ref('patch')]] },
          { class_name: 'LayerNormalization', name: 'ln', config: { name: 'ln', axis: [2], epsilon: 1e-6 }, inbound_nodes: [[ref('tokens')]] },
          // Keras 2 serializes mha(x, x) as the query with the value in the call kwargs.
          { class_name: 'MultiHeadAttention', name: 'mha', config: { name: 'mha', num_heads: H, key_dim: K, value_dim: V, dropout: 0.1, use_bias: true, output_shape: null, attention_axes: [1] }, inbound_nodes: [[['ln', 0, 0, { value: ['ln', 0, 0] }]]] },
          { class_name: 'Add', name: 'residual', config: { name: 'residual' }, inbound_nodes: [[ref('tokens'), ref('mha')]] },
          { class_name: 'GlobalAveragePooling1D', name: 'pool', config: { name: 'pool' }, inbound_nodes: [[ref('residual')]] },
          { class_name: 'Dense', name: 'head', config: { name: 'head', units: C, activation: 'softmax', use_bias: true }, inbound_nodes: [[ref('pool')]] },
        ],
      },
    };
    /** Keras 3 passes mha(x1, x1) as two positional arguments. */
    const keras3 = () => {
      const c = toKeras3Config(keras2);
      const m = c.config.layers.find((l: any) => l.name === 'mha');
      m.inbound_nodes = [{ args: [kerasTensor(['ln', 0, 0]), kerasTensor(['ln', 0, 0])], kwargs: {} }];
      return c;
    };

    /** Float64 reference of Keras' MultiHeadAttention on x [B, T, D]. */
    function mhaReference(x: Float32Array, b: number): Float64Array {
      const [wq, bq] = mha.query.map((w) => w.data); const [wk, bk] = mha.key.map((w) => w.data);
      const [wv, bv] = mha.value.map((w) => w.data); const [wo, bo] = mha.attention_output.map((w) => w.data);
      const out = new Float64Array(b * T * D);
      for (let n = 0; n < b; n++) {
        const xs = (t: number, d: number) => x[(n * T + t) * D + d];
        const proj = (w: Float32Array, bias: Float32Array, dim: number) => (t: number, h: number, j: number) => {
          let s = bias[h * dim + j];
          for (let d = 0; d < D; d++) s += xs(t, d) * w[(d * H + h) * dim + j];
          return s;
        };
        const q = proj(wq, bq, K), k = proj(wk, bk, K), v = proj(wv, bv, V);
        const ctx = new Float64Array(T * H * V);
        for (let h = 0; h < H; h++) {
          const kk = Array.from({ length: T }, (_, s) => Array.from({ length: K }, (_, j) => k(s, h, j)));
          const vv = Array.from({ length: T }, (_, s) => Array.from({ length: V }, (_, j) => v(s, h, j)));
          for (let t = 0; t < T; t++) {
            const qq = Array.from({ length: K }, (_, j) => q(t, h, j) / Math.sqrt(K));
            const sc = kk.map((kr) => kr.reduce((a, kv, j) => a + kv * qq[j], 0));
            const mx = Math.max(...sc);
            const e = sc.map((s) => Math.exp(s - mx));
            const z = e.reduce((a, c) => a + c, 0);
            for (let j = 0; j < V; j++) ctx[(t * H + h) * V + j] = e.reduce((a, p, s) => a + (p / z) * vv[s][j], 0);
          }
        }
        for (let t = 0; t < T; t++) for (let o = 0; o < D; o++) {
          let s = bo[o];
          for (let h = 0; h < H; h++) for (let j = 0; j < V; j++) s += ctx[(t * H + h) * V + j] * wo[(h * V + j) * D + o];
          out[(n * T + t) * D + o] = s;
        }
      }
      return out;
    }

    async function check(file: string, label: string): Promise<void> {
      const model = await loadModel(file, { inputRange: [0, 1] });
      try {
        assert.equal(model.logitsLayer, 'head/pre_softmax');
        const info = model.layers.find((l) => l.name === 'mha')!;
        assert.deepEqual(info.outputShape, [null, T, D]);
        const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 21) as tf.Tensor4D;
        const [ln, y] = model.tap(['ln', 'mha'], x);
        const refY = mhaReference((await ln.data()) as Float32Array, 2);
        const got = (await y.data()) as Float32Array;
        let err = 0, scale = 0;
        for (let i = 0; i < got.length; i++) { err = Math.max(err, Math.abs(got[i] - refY[i])); scale = Math.max(scale, Math.abs(refY[i])); }
        console.log(`      ${label} MultiHeadAttention vs float64 reference: max abs error ${err.toExponential(2)} (max |y| ${scale.toFixed(2)})`);
        assert.ok(err < 1e-5, `max abs error ${err}`);
        const norm = tf.tidy(() => tf.norm(tf.grad((v: tf.Tensor) => tf.sum(tf.slice(model.tap(['head/pre_softmax'], v as tf.Tensor4D)[0], [0, 2], [2, 1])))(x)));
        assert.ok((await norm.data())[0] > 0);
        tf.dispose([x, ln, y, norm]);
      } finally {
        model.dispose();
      }
    }

    it('.keras (Keras 3: mha(x, x), sublayers at query_dense/.../output_dense) matches a float64 reference', async () => {
      const sub = new Map([['mha', new Map([['query_dense', mha.query], ['key_dense', mha.key], ['value_dense', mha.value], ['output_dense', mha.attention_output]])]]);
      await check(write('vit.keras', kerasZip(keras3(), keras3Weights(keras2, layerW, sub))), '.keras');
    });

    it('.h5 (Keras 2: value in the call kwargs, weights mha/query/kernel:0 ...) matches a float64 reference', async () => {
      const ws: Weight[] = [];
      for (const [l, w] of layerW) {
        const keys = l === 'ln' ? ['gamma', 'beta'] : ['kernel', 'bias'];
        w.forEach((t, i) => ws.push({ ...t, name: `${l}/${keys[i]}` }));
      }
      for (const [part, [k, b]] of Object.entries(mha)) ws.push({ ...k, name: `mha/${part}/kernel` }, { ...b, name: `mha/${part}/bias` });
      await check(write('vit.h5', legacyH5(keras2, ws)), '.h5');
    });

    it('cross-attention (value from another layer) is refused by name', async () => {
      const c = keras3();
      c.config.layers.find((l: any) => l.name === 'mha').inbound_nodes = [{ args: [kerasTensor(['ln', 0, 0]), kerasTensor(['tokens', 0, 0])], kwargs: {} }];
      const sub = new Map([['mha', new Map([['query_dense', mha.query], ['key_dense', mha.key], ['value_dense', mha.value], ['output_dense', mha.attention_output]])]]);
      await assert.rejects(loadModel(write('cross.keras', kerasZip(c, keras3Weights(keras2, layerW, sub)))), /vit|cross\.keras: layer "mha" \(MultiHeadAttention\): query, key and value come from different layers/);
    });
  });

  describe('errors name the file and the problem', () => {
    const v1Keras = () => kerasZip(toKeras3Config(v1.topology), keras3Weights(v1.topology, byLayer(v1.weights)));

    it('a corrupt .keras (not a zip) and a corrupt .h5 (not HDF5)', async () => {
      const junk = new Uint8Array(4096).map((_, i) => (i * 7919) & 255);
      await assert.rejects(loadModel(write('junk.keras', junk)), /junk\.keras is not a \.keras archive \(not a zip file\)/);
      await assert.rejects(loadModel(write('junk.h5', junk)), /junk\.h5 is not an HDF5 file/);
      const badZip = v1Keras();
      badZip.fill(0, badZip.length - 200); // central directory destroyed
      await assert.rejects(loadModel(write('badzip.keras', badZip)), /badzip\.keras is not a readable \.keras archive \(corrupt or truncated zip\)/);
    });

    it('a truncated .h5 and a truncated .keras', async () => {
      const full = legacyH5(v1.topology, v1.weights);
      await assert.rejects(loadModel(write('cut.h5', full.subarray(0, Math.floor(full.length / 2)))), /cut\.h5 is not a readable HDF5 file \(corrupt or truncated\): truncated file/);
      const k = v1Keras();
      await assert.rejects(loadModel(write('cut.keras', k.subarray(0, Math.floor(k.length / 2)))), /cut\.keras is not a readable \.keras archive \(corrupt or truncated zip\)/);
    });

    it('a Lambda layer is refused by name, in both formats', async () => {
      const topo = JSON.parse(JSON.stringify(v1.topology));
      const l = topo.config.layers.find((x: any) => x.name === 'conv1_relu');
      l.class_name = 'Lambda';
      l.config = { name: 'conv1_relu', function: ['print("pwned")', null, null], function_type: 'lambda' };
      await assert.rejects(loadModel(write('lambda.h5', legacyH5(topo, v1.weights))), /lambda\.h5: layer "conv1_relu" \(Lambda\): unsupported layer class "Lambda" \(no code from the model file is run/);
      const c = toKeras3Config(v1.topology);
      const k = c.config.layers.find((x: any) => x.name === 'conv1_relu');
      k.class_name = 'Lambda';
      k.config = { name: 'conv1_relu', function: { class_name: '__lambda__', config: { code: 'print("pwned")' } } };
      await assert.rejects(loadModel(write('lambda.keras', kerasZip(c, keras3Weights(toKeras3Config(v1.topology), byLayer(v1.weights))))), /lambda\.keras: layer "conv1_relu" \(Lambda\): unsupported layer class "Lambda"/);
    });

    it('a custom registered layer class is refused by name even when it borrows a Keras class name', async () => {
      const c = toKeras3Config(v1.topology);
      const k = c.config.layers.find((x: any) => x.name === 'conv1_relu');
      k.module = 'my_project.layers';
      k.registered_name = 'Custom>Activation';
      await assert.rejects(loadModel(write('custom.keras', kerasZip(c, keras3Weights(v1.topology, byLayer(v1.weights))))), /custom\.keras: layer "conv1_relu" \(Activation\) is the custom class "Custom>Activation" from module "my_project\.layers"/);
    });

    it('paths that leave their place: a zip entry with "..", a weight name with ".."', async () => {
      const k = kerasZip(toKeras3Config(v1.topology), keras3Weights(v1.topology, byLayer(v1.weights)), { '../../evil.txt': strToU8('x') });
      await assert.rejects(loadModel(write('escape.keras', k)), /escape\.keras: archive entry "\.\.\/\.\.\/evil\.txt" has an unsafe path/);
      const h = legacyH5(v1.topology, v1.weights, (names) => { names.set('conv1', ['../../conv_preds/conv_preds/kernel:0']); });
      await assert.rejects(loadModel(write('escape.h5', h)), /escape\.h5: layer "conv1" weight "\.\.\/\.\.\/conv_preds\/conv_preds\/kernel:0": name .* leaves its group/);
      assert.ok(!fs.existsSync(path.join(tmp, '..', '..', 'evil.txt')));
    });

    it('a weight listed twice in a layer of an .h5 is refused by name', async () => {
      const h = legacyH5(v1.topology, v1.weights, (names) => { const n = names.get('conv1_bn')!; names.set('conv1_bn', [n[0], n[0], ...n.slice(2)]); });
      await assert.rejects(loadModel(write('twice.h5', h)), /twice\.h5: layer "conv1_bn" lists weight "conv1_bn\/gamma:0" twice in weight_names/);
    });

    it('a weights-only .h5 and a .keras without weights', async () => {
      const wOnly = h5Bytes((f) => { f.create_group('layers'); });
      await assert.rejects(loadModel(write('w.h5', wOnly)), /w\.h5 has no "model_config": it holds weights only/);
      const noW = zipSync({ 'config.json': strToU8(JSON.stringify(toKeras3Config(v1.topology))), 'model.weights.npz': new Uint8Array(4) });
      await assert.rejects(loadModel(write('npz.keras', noW)), /npz\.keras: the archive has no model\.weights\.h5 \(weights saved as \.npz are not supported/);
    });
  });
});
