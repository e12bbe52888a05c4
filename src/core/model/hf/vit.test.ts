/**
 * Hugging Face and timm ViT / DeiT checkpoints against PyTorch (testdata/, made by testdata/make_fixtures.py): logits,
 * every hidden state, and input gradients of `vit:hidden_states.<i>:<d>[:nocls]` units and of a logit, on every CPU
 * path; F16 and BF16 checkpoints; names, class names and preprocessing from the config files; errors.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { setOneDnnKernels } from '../../backend/onednn';
import { CPU_PATHS } from '../../backend/testing_utils';
import { parseUnits, unitObjective } from '../../render/objectives';
import { loadModel, type NLModel } from '../index';
import { preprocessImage } from '../preprocess';
import { attack } from '../../attack';
import { fitToInput, readImage } from '../../image';
import { visualize } from '../../render/visualize';
import { fixture } from '../../testing/fixtures';

const DATA = path.join(__dirname, 'testdata');

interface BinRef { file: string; shape: number[] }
interface GradRef extends BinRef { id: string; kind: 'vit' | 'logit'; layer?: number; index: number; nocls?: boolean }
interface LayoutRef { logits: BinRef; hidden_states: BinRef; gradients: GradRef[] }
interface Ref { config: Record<string, any>; input: BinRef; image: BinRef; hf: LayoutRef; timm: LayoutRef; hf_f16?: { logits: BinRef; vs_float32_weights: number }; hf_bf16?: { logits: BinRef; vs_float32_weights: number } }

const ref = (name: string): Ref => JSON.parse(fs.readFileSync(path.join(DATA, 'ref', `${name}.ref.json`), 'utf8'));
function bin(r: BinRef): Float32Array {
  const b = fs.readFileSync(path.join(DATA, r.file));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** max |a - ref| / max |ref| */
function maxRel(a: ArrayLike<number>, r: ArrayLike<number>): number {
  assert.equal(a.length, r.length, 'length');
  let d = 0; let m = 0;
  for (let i = 0; i < r.length; i++) { d = Math.max(d, Math.abs(a[i] - r[i])); m = Math.max(m, Math.abs(r[i])); }
  return d / m;
}

const measured: string[] = [];
const record = (what: string, e: number) => measured.push(`${what.padEnd(62)} max rel ${e.toExponential(2)}`);
after(() => { if (measured.length) console.log('\n  errors vs PyTorch:\n  ' + measured.join('\n  ')); });

/** An NCHW reference image as NHWC. */
const nhwc = (r: BinRef) => tf.tidy(() => tf.transpose(tf.tensor4d(bin(r), r.shape as [number, number, number, number]), [0, 2, 3, 1])) as tf.Tensor4D;

/** The input gradient of one unit (through the product's own objective), NCHW like the reference. */
function unitGrad(m: NLModel, spec: string, x: tf.Tensor4D): Float32Array {
  const units = parseUnits(m, [spec]);
  assert.equal(units.length, 1);
  const obj = unitObjective(m, units);
  try {
    const g = tf.tidy(() => tf.transpose(tf.grad((xx: tf.Tensor) => tf.sum(obj.evaluate(m.tap(obj.layers, xx as tf.Tensor4D))))(x), [0, 3, 1, 2]));
    const data = g.dataSync() as Float32Array;
    g.dispose();
    return data;
  } finally {
    obj.dispose();
  }
}

const specOf = (g: GradRef) => (g.kind === 'logit' ? `logit:${g.index}` : `vit:hidden_states.${g.layer}:${g.index}${g.nocls ? ':nocls' : ''}`);

interface Case { name: string; folder: string; layout: 'hf' | 'timm'; names: (i: number) => string; extra: string[]; logits: string; format: string }
const CASES: Case[] = [
  { name: 'vit', folder: 'vit_hf', layout: 'hf', names: (i) => `vit.encoder.layer.${i}`, extra: ['vit.embeddings.patch_embeddings', 'vit.embeddings', 'vit.layernorm', 'classifier'], logits: 'classifier', format: 'huggingface' },
  { name: 'vit', folder: 'vit_timm', layout: 'timm', names: (i) => `blocks.${i}`, extra: ['patch_embed', 'norm', 'head'], logits: 'head', format: 'timm' },
  { name: 'deit', folder: 'deit_hf', layout: 'hf', names: (i) => `deit.encoder.layer.${i}`, extra: ['deit.embeddings.patch_embeddings', 'deit.embeddings', 'deit.layernorm', 'cls_classifier', 'distillation_classifier', 'logits'], logits: 'logits', format: 'huggingface' },
  { name: 'deit', folder: 'deit_timm', layout: 'timm', names: (i) => `blocks.${i}`, extra: ['patch_embed', 'norm', 'head', 'head_dist', 'logits'], logits: 'logits', format: 'timm' },
];

for (const cpu of CPU_PATHS) {
  describe(`Hugging Face / timm ViT vs PyTorch (${cpu.label})`, () => {
    // The whole path (models built and run) with wasm's addon on or off, as the label says; back on afterwards.
    before(async () => {
      await initBackend(cpu.backend);
      if (cpu.backend === 'wasm') setOneDnnKernels(cpu.native);
    });
    after(() => { if (cpu.backend === 'wasm') setOneDnnKernels(true); });

    for (const c of CASES) {
      describe(c.folder, () => {
        const r = ref(c.name);
        const lr = r[c.layout];
        const depth = r.config.num_hidden_layers as number;
        let m: NLModel;
        before(async () => { m = await loadModel(path.join(DATA, c.folder)); });
        after(() => m?.dispose());

        it('lists the modules by their names, the hidden states, the logits and the class names', () => {
          const names = m.layers.map((l) => l.name);
          for (const n of [...c.extra, ...Array.from({ length: depth }, (_, i) => c.names(i)), ...Array.from({ length: depth + 1 }, (_, i) => `hidden_states.${i}`)]) {
            assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
          }
          assert.equal(m.format, c.format);
          assert.equal(m.name, c.folder);
          assert.equal(m.logitsLayer, c.logits);
          assert.deepEqual(m.classNames, r.config.id2label);
          const tokens = (r.config.image_size / r.config.patch_size) ** 2 + (c.name === 'deit' ? 2 : 1);
          const hs = m.layers.find((l) => l.name === `hidden_states.${depth}`)!;
          assert.deepEqual([hs.outputShape, hs.channels], [[null, tokens, r.config.hidden_size], r.config.hidden_size]);
          assert.deepEqual(m.input, { height: r.config.image_size, width: r.config.image_size, channels: 3 });
        });

        it('maps an image in [0,1] to the reference pixel_values (mean/std from the config files or the defaults)', () => {
          const img = nhwc(r.image);
          const x = preprocessImage(m, img);
          const want = nhwc(r.input);
          const e = tf.tidy(() => tf.max(tf.abs(tf.sub(x, want))).dataSync()[0]);
          tf.dispose([img, x, want]);
          assert.ok(e < 1e-5, `max abs ${e}; preprocess ${m.preprocess.describe}`);
        });

        it('logits and every hidden state match PyTorch (max rel <= 1e-4), hidden_states.i is block i, no tensor leaks', () => {
          const x = nhwc(r.input);
          const n0 = tf.memory().numTensors;
          const hsNames = Array.from({ length: depth + 1 }, (_, i) => `hidden_states.${i}`);
          const outs = m.tap([m.logitsLayer!, ...hsNames, c.names(depth - 1)], x);
          const e = maxRel(outs[0].dataSync(), bin(lr.logits));
          record(`${cpu.label} ${c.folder} logits`, e);
          const hsRef = bin(lr.hidden_states);
          const per = hsRef.length / (depth + 1);
          let eh = 0;
          for (let i = 0; i <= depth; i++) eh = Math.max(eh, maxRel(outs[1 + i].dataSync(), hsRef.subarray(i * per, (i + 1) * per)));
          record(`${cpu.label} ${c.folder} hidden_states.0-${depth} (worst)`, eh);
          const same = tf.tidy(() => tf.max(tf.abs(tf.sub(outs[depth + 1], outs[depth + 2]))).dataSync()[0]);
          tf.dispose(outs);
          assert.equal(tf.memory().numTensors, n0, 'tensors left after a tap');
          x.dispose();
          assert.ok(e <= 1e-4, `logits max rel ${e}`);
          assert.ok(eh <= 1e-4, `hidden states max rel ${eh}`);
          assert.equal(same, 0, `hidden_states.${depth} is ${c.names(depth - 1)}`);
        });

        for (const g of lr.gradients) {
          it(`input gradient of ${specOf(g)} matches PyTorch (max rel <= 1e-4)`, () => {
            const x = nhwc(r.input);
            const n0 = tf.memory().numTensors;
            const e = maxRel(unitGrad(m, specOf(g), x), bin(g));
            assert.equal(tf.memory().numTensors, n0, 'tensors left after a gradient');
            x.dispose();
            record(`${cpu.label} ${c.folder} grad ${specOf(g)}`, e);
            assert.ok(e <= 1e-4, `max rel ${e}`);
          });
        }
      });
    }

    for (const dt of ['f16', 'bf16'] as const) {
      it(`a ${dt.toUpperCase()} checkpoint matches PyTorch with the same rounded weights (max rel <= 1e-4)`, async () => {
        const r = ref('vit');
        const m = await loadModel(path.join(DATA, `vit_hf_${dt}`, 'model.safetensors'));
        try {
          const x = nhwc(r.input);
          const [lg] = m.tap(['classifier'], x);
          const got = lg.dataSync();
          const e = maxRel(got, bin(r[`hf_${dt}`]!.logits));
          const e32 = maxRel(got, bin(r.hf.logits));
          tf.dispose([x, lg]);
          record(`${cpu.label} vit_hf_${dt} logits (vs float32 weights: ${e32.toExponential(2)})`, e);
          assert.ok(e <= 1e-4, `max rel ${e}`);
          // and the rounding itself is what the format allows
          assert.ok(e32 < (dt === 'f16' ? 5e-3 : 5e-2), `vs float32 weights ${e32}`);
          // no preprocessor_config.json: the ViT image processor's 0.5/0.5
          assert.deepEqual([m.preprocess.scale, m.preprocess.offset], [[2, 2, 2], [-1, -1, -1]]);
        } finally {
          m.dispose();
        }
      });
    }
  });
}

describe('Hugging Face / timm ViT: units and errors', () => {
  let tmp: string;
  before(async () => {
    await initBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-hfvit-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('parses vit:hidden_states.8:0-7 (a dotted layer name) into 8 units', async () => {
    const m = await loadModel(path.join(DATA, 'vit_hf'));
    try {
      const units = parseUnits(m, ['vit:hidden_states.8:0-7', 'vit:vit.encoder.layer.7:3:nocls']);
      assert.deepEqual(units.map((u) => u.spec), [...Array.from({ length: 8 }, (_, i) => `vit:hidden_states.8:${i}`), 'vit:vit.encoder.layer.7:3:nocls']);
      assert.throws(() => parseUnits(m, ['vit:hidden_states.9:0']), /hidden_states\.9/);
    } finally {
      m.dispose();
    }
  });

  it('attack (AM at the paper\'s ViT epsilon 0.05) and visualize work on a Hugging Face checkpoint', async () => {
    const m = await loadModel(path.join(DATA, 'vit_hf'));
    try {
      const n0 = tf.memory().numTensors;
      const images = ['chelsea.png', 'coffee.png', 'rocket.jpg'].map((f) => fitToInput(readImage(fixture('images', f)), 32, 32, 3).image);
      // the target: each photo's runner-up class (the random model puts most photos in one class by a wide margin)
      const targets = tf.tidy(() => images.map((im) => tf.topk(tf.reshape(m.tap(['classifier'], preprocessImage(m, tf.tensor4d(im.data, [1, 32, 32, 3])))[0], [-1]), 2).indices.dataSync()[1]));
      const run = await attack(m, images, targets, { method: 'am', epsilon: 0.05, step: 0.01, tv: 1e-4, steps: 30 });
      for (const r of run.results) {
        assert.ok(r.success && r.successAfterQuantization, `pair ${r.pair}: ${m.classNames![r.originalClass]} -> ${r.targetName} failed (target prob ${r.targetProb})`);
        assert.ok(r.linf <= 0.05 + 1e-7, `linf ${r.linf}`);
        assert.equal(r.targetName, m.classNames![r.target]);
      }
      // AM on two hidden-state units: each ends above its value on a flat grey image (about the start)
      const units = parseUnits(m, ['vit:hidden_states.8:0-1']);
      const res = await visualize(m, units, { steps: 64, batch: 2, param: 'fourier', transforms: 'standard' });
      const obj = unitObjective(m, units);
      const grey = tf.tidy(() => Array.from(obj.evaluate(m.tap(obj.layers, preprocessImage(m, tf.fill([2, 32, 32, 3], 0.5) as tf.Tensor4D))).dataSync()));
      obj.dispose();
      console.log(`    AM vs grey: ${res.units.map((u, i) => `${u.unit.spec} ${u.activation.toFixed(3)} vs ${grey[i].toFixed(3)}`).join(', ')}`);
      res.units.forEach((u, i) => assert.ok(u.activation > grey[i] + 0.2, `${u.unit.spec}: ${u.activation} vs grey ${grey[i]}`));
      assert.equal(tf.memory().numTensors, n0, 'tensors leaked');
    } finally {
      m.dispose();
    }
  });

  /** A copy of a fixture folder with its config.json edited and, optionally, its tensors changed. */
  function variant(folder: string, name: string, edit: (cfg: any) => void): string {
    const d = path.join(tmp, name);
    fs.mkdirSync(d);
    for (const f of fs.readdirSync(path.join(DATA, folder))) fs.copyFileSync(path.join(DATA, folder, f), path.join(d, f));
    const cfgFile = path.join(d, 'config.json');
    const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'));
    edit(cfg);
    fs.writeFileSync(cfgFile, JSON.stringify(cfg));
    return d;
  }

  /**
   * Rewrites a copy's model.safetensors (all F32): `rename` maps each name to its new name (null drops it); `add`
   * appends tensors.
   */
  function editTensors(dir: string, rename: (n: string) => string | null, add: [string, number[], Float32Array?][] = []): void {
    const file = path.join(dir, 'model.safetensors');
    const buf = fs.readFileSync(file);
    const n = Number(buf.readBigUInt64LE(0));
    const old = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const header: Record<string, unknown> = {};
    const parts: Buffer[] = [];
    let off = 0;
    const put = (name: string, shape: number[], data: Buffer) => {
      header[name] = { dtype: 'F32', shape, data_offsets: [off, off + data.length] };
      parts.push(data);
      off += data.length;
    };
    for (const [name, e] of Object.entries(old) as [string, any][]) {
      const to = name === '__metadata__' ? null : rename(name);
      if (to) put(to, e.shape, buf.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1]));
    }
    for (const [name, shape, data] of add) put(name, shape, Buffer.from((data ?? new Float32Array(shape.reduce((a, b) => a * b, 1))).buffer));
    const h = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    fs.writeFileSync(file, Buffer.concat([len, h, ...parts]));
  }

  it('loads a ViTModel (no prefix, pooler, no classifier): same hidden states, pooler = tanh(dense(token 0 of layernorm))', async () => {
    const d = variant('vit_hf', 'vitmodel', (c) => { c.architectures = ['ViTModel']; });
    const w = Float32Array.from({ length: 24 * 24 }, (_, i) => Math.sin(i) / 5);
    const b = Float32Array.from({ length: 24 }, (_, i) => Math.cos(i) / 10);
    editTensors(d, (n) => (n.startsWith('classifier.') ? null : n.replace(/^vit\./, '')), [['pooler.dense.weight', [24, 24], w], ['pooler.dense.bias', [24], b]]);
    const m = await loadModel(d);
    try {
      const names = m.layers.map((l) => l.name);
      for (const n of ['embeddings', 'embeddings.patch_embeddings', 'encoder.layer.0', 'encoder.layer.7', 'layernorm', 'pooler', 'hidden_states.8']) assert.ok(names.includes(n), `${n} in ${names.join(', ')}`);
      assert.equal(m.logitsLayer, null);
      const r = ref('vit');
      const x = nhwc(r.input);
      const [hs, ln, pool] = m.tap(['hidden_states.8', 'layernorm', 'pooler'], x);
      const hsRef = bin(r.hf.hidden_states);
      const e = maxRel(hs.dataSync(), hsRef.subarray(8 * 17 * 24));
      const want = tf.tidy(() => tf.tanh(tf.add(tf.matMul(tf.reshape(tf.slice(ln, [0, 0, 0], [1, 1, 24]), [1, 24]), tf.tensor2d(w, [24, 24]), false, true), b)));
      const ep = maxRel(pool.dataSync(), want.dataSync());
      tf.dispose([x, hs, ln, pool, want]);
      assert.ok(e <= 1e-4, `hidden_states.8 max rel ${e}`);
      assert.ok(ep <= 1e-5, `pooler max rel ${ep}`);
    } finally {
      m.dispose();
    }
  });

  it('loads a DeiTForImageClassification (no teacher head): its classifier reads the class token', async () => {
    const d = variant('deit_hf', 'deit_noteacher', (c) => { c.architectures = ['DeiTForImageClassification']; });
    editTensors(d, (n) => (n.startsWith('distillation_classifier.') ? null : n.replace(/^cls_classifier\./, 'classifier.')));
    const [m, teacher] = [await loadModel(d), await loadModel(path.join(DATA, 'deit_hf'))];
    try {
      assert.equal(m.logitsLayer, 'classifier');
      const x = nhwc(ref('deit').input);
      const [a] = m.tap(['classifier'], x);
      const [c] = teacher.tap(['cls_classifier'], x);
      const e = maxRel(a.dataSync(), c.dataSync());
      tf.dispose([x, a, c]);
      assert.equal(e, 0);
    } finally {
      m.dispose();
      teacher.dispose();
    }
  });

  it('says which tensor does not fit the config, naming the file', async () => {
    const d = variant('vit_hf', 'wide', (c) => { c.hidden_size = 33; });
    await assert.rejects(loadModel(d), new RegExp(`${d}/model\\.safetensors: tensor "vit\\.embeddings\\.patch_embeddings\\.projection\\.weight" has shape \\[24,3,8,8\\], expected \\[33,3,8,8\\]`));
    const d2 = variant('vit_hf', 'deep', (c) => { c.num_hidden_layers = 9; });
    await assert.rejects(loadModel(d2), /deep\/model\.safetensors: missing tensor "vit\.encoder\.layer\.8\.attention\.attention\.query\.weight"/);
  });

  it('refuses an image size over the input limit before building anything, naming the config and the variable', async () => {
    const d = variant('vit_hf', 'huge', (c) => { c.image_size = 30000; });
    await assert.rejects(loadModel(d), new RegExp(`${d}/config\\.json: the input image 30000x30000x3 has 2700000000 values, over the limit of 4194304 values \\(set the environment variable NEURON_LENS_MAX_INPUT_VALUES to raise it\\)`));
    const t = variant('vit_timm', 'hugetimm', (c) => { c.model_args = { ...c.model_args, img_size: 30000 }; });
    await assert.rejects(loadModel(t), /hugetimm\/config\.json: the input image 30000x30000x3 has 2700000000 values, over the limit/);
  });

  it('refuses unsupported configs and variants instead of computing something else', async () => {
    await assert.rejects(loadModel(variant('vit_hf', 'bert', (c) => { c.model_type = 'bert'; })), /bert\/config\.json: model_type "bert" is not supported \(vit or deit\)/);
    await assert.rejects(loadModel(variant('vit_hf', 'tanh', (c) => { c.hidden_act = 'gelu_new'; })), /hidden_act "gelu_new" is not supported/);
    await assert.rejects(loadModel(variant('vit_timm', 'avg', (c) => { c.global_pool = 'avg'; })), /global_pool "avg" is not supported/);
    await assert.rejects(loadModel(variant('vit_timm', 'noheads', (c) => { c.architecture = 'vit_mystery_patch8_32'; delete c.model_args; })), /number of attention heads of "vit_mystery_patch8_32" is unknown/);
    // timm's layer-scale / fc_norm variants: their extra tensors are reported, not ignored
    const ls = variant('vit_timm', 'layerscale', () => undefined);
    editTensors(ls, (n) => n, [['blocks.0.ls1.gamma', [24]]]);
    await assert.rejects(loadModel(ls), /layerscale\/model\.safetensors: 1 tensor\(s\) not understood by the timm ViT\/DeiT importer.*blocks\.0\.ls1\.gamma/);
    const noConfig = path.join(tmp, 'alone');
    fs.mkdirSync(noConfig);
    fs.copyFileSync(path.join(DATA, 'vit_hf', 'model.safetensors'), path.join(noConfig, 'model.safetensors'));
    await assert.rejects(loadModel(path.join(noConfig, 'model.safetensors')), /alone\/model\.safetensors: no config\.json beside it/);
  });

  it('reads mean, std and the rescale step from preprocessor_config.json', async () => {
    const d = variant('vit_hf', 'raw255', () => undefined);
    fs.writeFileSync(path.join(d, 'preprocessor_config.json'), JSON.stringify({ do_rescale: false, image_mean: [100, 110, 120], image_std: [50, 60, 70], size: 32 }));
    const m = await loadModel(d);
    try {
      // pixel values 0..255 without rescaling: (255 x - mean) / std
      assert.deepEqual(m.preprocess.scale.map((v) => +v.toFixed(6)), [5.1, 4.25, +(255 / 70).toFixed(6)]);
      assert.deepEqual(m.preprocess.offset.map((v) => +v.toFixed(6)), [-2, +(-110 / 60).toFixed(6), +(-120 / 70).toFixed(6)]);
    } finally {
      m.dispose();
    }
    const bad = variant('vit_hf', 'size', () => undefined);
    fs.writeFileSync(path.join(bad, 'preprocessor_config.json'), JSON.stringify({ size: { height: 224, width: 224 } }));
    await assert.rejects(loadModel(bad), /size\/preprocessor_config\.json: "size" 224x224 differs from the model's image_size 32x32/);
  });
});
