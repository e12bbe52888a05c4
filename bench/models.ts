// The benchmark's architectures, written as Keras-style functional configs with random weights and run by the
// product's own KerasGraph interpreter (the same path a loaded .keras / model.json takes). Layer and weight names
// follow keras.applications, so a folded/unfolded comparison sees the same graph shapes a real model has.
import * as tf from '@tensorflow/tfjs-core';
import { KerasGraph, type LayerWeights } from '../src/core/model/keras';
import { fromKerasGraph } from '../src/core/model/tfjs';
import type { NLModel } from '../src/core/model/types';
import { countClasses } from '../src/core/model/classes';
import { buildHfVitB16 } from './hfvit';

export const BENCH_MODELS = ['mobilenet_v1', 'resnet50v2', 'inceptionv3', 'vit_b16', 'vit_b16_hf'] as const;
export type BenchModel = (typeof BENCH_MODELS)[number];

/** Deterministic uniform random numbers (mulberry32), so every run and backend sees the same weights. */
function uniformFill(n: number, bound: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * bound;
  }
  return out;
}

/** Builds a functional Keras config layer by layer, with random weights. */
class ConfigBuilder {
  readonly layers: any[] = [];
  readonly weights = new Map<string, LayerWeights>();
  private seed = 1;
  private readonly used = new Set<string>();

  constructor(readonly inputShape: number[]) {
    this.layers.push({ class_name: 'InputLayer', name: 'input', config: { name: 'input', batch_input_shape: [null, ...inputShape] }, inbound_nodes: [] });
  }

  add(className: string, name: string, config: Record<string, any>, inputs: string[], weights: [string, number[], number][] = []): string {
    if (this.used.has(name)) throw new Error(`bench model: duplicate layer name ${name}`);
    this.used.add(name);
    this.layers.push({ class_name: className, name, config: { name, ...config }, inbound_nodes: [inputs.map((i) => [i, 0, 0, {}])] });
    if (weights.length) {
      const w: LayerWeights = new Map();
      for (const [wn, shape, bound] of weights) {
        const n = shape.reduce((a, b) => a * b, 1);
        w.set(wn, tf.tensor(uniformFill(n, bound, this.seed++), shape));
      }
      this.weights.set(name, w);
    }
    return name;
  }

  /** Conv2D with He-uniform kernel. */
  conv(name: string, x: string, cin: number, filters: number, k: [number, number] | number, opts: { strides?: number; padding?: string; bias?: boolean; activation?: string } = {}): string {
    const [kh, kw] = typeof k === 'number' ? [k, k] : k;
    const bias = opts.bias ?? true;
    const w: [string, number[], number][] = [['kernel', [kh, kw, cin, filters], Math.sqrt(6 / (kh * kw * cin))]];
    if (bias) w.push(['bias', [filters], 0.1]);
    return this.add('Conv2D', name, { filters, kernel_size: [kh, kw], strides: opts.strides ?? 1, padding: opts.padding ?? 'valid', use_bias: bias, activation: opts.activation ?? 'linear' }, [x], w);
  }

  depthwise(name: string, x: string, c: number, strides: number, padding: string): string {
    return this.add('DepthwiseConv2D', name, { kernel_size: [3, 3], strides, padding, use_bias: false, depth_multiplier: 1 }, [x], [['depthwise_kernel', [3, 3, c, 1], Math.sqrt(6 / 9)]]);
  }

  /** Inference batch norm with random statistics near identity. */
  bn(name: string, x: string, c: number, scale = true, eps = 1e-3): string {
    const w: [string, number[], number][] = [];
    if (scale) w.push(['gamma', [c], 0.2]);
    w.push(['beta', [c], 0.1], ['moving_mean', [c], 0.1], ['moving_variance', [c], 0.2]);
    const name_ = this.add('BatchNormalization', name, { axis: -1, epsilon: eps, scale, center: true }, [x], w);
    // gamma ~ 1 +- 0.2, variance ~ 1 +- 0.2 (positive)
    const lw = this.weights.get(name_)!;
    for (const key of scale ? ['gamma', 'moving_variance'] : ['moving_variance']) {
      const t = lw.get(key)!;
      lw.set(key, tf.tidy(() => tf.add(t, 1)));
      t.dispose();
    }
    return name_;
  }

  dense(name: string, x: string, din: number, units: number, activation = 'linear'): string {
    return this.add('Dense', name, { units, activation, use_bias: true }, [x], [['kernel', [din, units], Math.sqrt(6 / din)], ['bias', [units], 0.02]]);
  }

  topology(): { class_name: string; config: any } {
    const last = this.layers[this.layers.length - 1].name;
    return { class_name: 'Functional', config: { name: 'bench', layers: this.layers, input_layers: [['input', 0, 0]], output_layers: [[last, 0, 0]] } };
  }
}

function mobilenetV1(): ConfigBuilder {
  const g = new ConfigBuilder([224, 224, 3]);
  let x = g.conv('conv1', 'input', 3, 32, 3, { strides: 2, padding: 'same', bias: false });
  x = g.bn('conv1_bn', x, 32);
  x = g.add('ReLU', 'conv1_relu', { max_value: 6 }, [x]);
  let c = 32;
  const blocks: [number, number][] = [[64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1], [512, 1], [512, 1], [512, 1], [512, 1], [1024, 2], [1024, 1]];
  blocks.forEach(([f, s], i) => {
    const id = i + 1;
    x = g.depthwise(`conv_dw_${id}`, x, c, s, 'same');
    x = g.bn(`conv_dw_${id}_bn`, x, c);
    x = g.add('ReLU', `conv_dw_${id}_relu`, { max_value: 6 }, [x]);
    x = g.conv(`conv_pw_${id}`, x, c, f, 1, { padding: 'same', bias: false });
    x = g.bn(`conv_pw_${id}_bn`, x, f);
    x = g.add('ReLU', `conv_pw_${id}_relu`, { max_value: 6 }, [x]);
    c = f;
  });
  x = g.add('GlobalAveragePooling2D', 'global_average_pooling2d', { keepdims: true }, [x]);
  x = g.add('Dropout', 'dropout', { rate: 0.001 }, [x]);
  x = g.conv('conv_preds', x, 1024, 1000, 1, { padding: 'same' });
  x = g.add('Reshape', 'reshape_2', { target_shape: [1000] }, [x]);
  g.add('Activation', 'act_softmax', { activation: 'softmax' }, [x]);
  return g;
}

function resnet50v2(): ConfigBuilder {
  const g = new ConfigBuilder([224, 224, 3]);
  let x = g.add('ZeroPadding2D', 'conv1_pad', { padding: [[3, 3], [3, 3]] }, ['input']);
  x = g.conv('conv1_conv', x, 3, 64, 7, { strides: 2 });
  x = g.add('ZeroPadding2D', 'pool1_pad', { padding: [[1, 1], [1, 1]] }, [x]);
  x = g.add('MaxPooling2D', 'pool1_pool', { pool_size: [3, 3], strides: [2, 2], padding: 'valid' }, [x]);
  let c = 64;
  const block = (inp: string, filters: number, stride: number, convShortcut: boolean, name: string): string => {
    let pre = g.bn(`${name}_preact_bn`, inp, c, true, 1.001e-5);
    pre = g.add('Activation', `${name}_preact_relu`, { activation: 'relu' }, [pre]);
    let shortcut: string;
    if (convShortcut) shortcut = g.conv(`${name}_0_conv`, pre, c, 4 * filters, 1, { strides: stride });
    else if (stride > 1) shortcut = g.add('MaxPooling2D', `${name}_0_pool`, { pool_size: [1, 1], strides: [stride, stride], padding: 'valid' }, [inp]);
    else shortcut = inp;
    let y = g.conv(`${name}_1_conv`, pre, c, filters, 1, { bias: false });
    y = g.bn(`${name}_1_bn`, y, filters, true, 1.001e-5);
    y = g.add('Activation', `${name}_1_relu`, { activation: 'relu' }, [y]);
    y = g.add('ZeroPadding2D', `${name}_2_pad`, { padding: [[1, 1], [1, 1]] }, [y]);
    y = g.conv(`${name}_2_conv`, y, filters, filters, 3, { strides: stride, bias: false });
    y = g.bn(`${name}_2_bn`, y, filters, true, 1.001e-5);
    y = g.add('Activation', `${name}_2_relu`, { activation: 'relu' }, [y]);
    y = g.conv(`${name}_3_conv`, y, filters, 4 * filters, 1);
    c = 4 * filters;
    return g.add('Add', `${name}_out`, {}, [shortcut, y]);
  };
  const stack = (filters: number, blocks: number, stride1: number, name: string) => {
    x = block(x, filters, 1, true, `${name}_block1`);
    for (let i = 2; i < blocks; i++) x = block(x, filters, 1, false, `${name}_block${i}`);
    x = block(x, filters, stride1, false, `${name}_block${blocks}`);
  };
  stack(64, 3, 2, 'conv2');
  stack(128, 4, 2, 'conv3');
  stack(256, 6, 2, 'conv4');
  stack(512, 3, 1, 'conv5');
  x = g.bn('post_bn', x, c, true, 1.001e-5);
  x = g.add('Activation', 'post_relu', { activation: 'relu' }, [x]);
  x = g.add('GlobalAveragePooling2D', 'avg_pool', {}, [x]);
  g.dense('predictions', x, c, 1000, 'softmax');
  return g;
}

function inceptionV3(): ConfigBuilder {
  const g = new ConfigBuilder([299, 299, 3]);
  let n = 0;
  const channels = new Map<string, number>([['input', 3]]);
  const cbn = (x: string, filters: number, kh: number, kw: number, padding = 'same', strides = 1): string => {
    n++;
    const cname = n === 1 ? 'conv2d' : `conv2d_${n - 1}`;
    const bname = n === 1 ? 'batch_normalization' : `batch_normalization_${n - 1}`;
    const aname = n === 1 ? 'activation' : `activation_${n - 1}`;
    let y = g.conv(cname, x, channels.get(x)!, filters, [kh, kw], { strides, padding, bias: false });
    y = g.bn(bname, y, filters, false);
    y = g.add('Activation', aname, { activation: 'relu' }, [y]);
    channels.set(y, filters);
    return y;
  };
  let pools = 0;
  const pool = (kind: 'MaxPooling2D' | 'AveragePooling2D', x: string, stride: number, padding: string): string => {
    pools++;
    const y = g.add(kind, `${kind === 'MaxPooling2D' ? 'max' : 'average'}_pooling2d_${pools}`, { pool_size: [3, 3], strides: [stride, stride], padding }, [x]);
    channels.set(y, channels.get(x)!);
    return y;
  };
  const concat = (name: string, xs: string[]): string => {
    const y = g.add('Concatenate', name, { axis: -1 }, xs);
    channels.set(y, xs.reduce((a, b) => a + channels.get(b)!, 0));
    return y;
  };
  let x = cbn('input', 32, 3, 3, 'valid', 2);
  x = cbn(x, 32, 3, 3, 'valid');
  x = cbn(x, 64, 3, 3);
  x = pool('MaxPooling2D', x, 2, 'valid');
  x = cbn(x, 80, 1, 1, 'valid');
  x = cbn(x, 192, 3, 3, 'valid');
  x = pool('MaxPooling2D', x, 2, 'valid');
  [32, 64, 64].forEach((proj, i) => {
    const b1 = cbn(x, 64, 1, 1);
    const b5 = cbn(cbn(x, 48, 1, 1), 64, 5, 5);
    const b3 = cbn(cbn(cbn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3);
    const bp = cbn(pool('AveragePooling2D', x, 1, 'same'), proj, 1, 1);
    x = concat(`mixed${i}`, [b1, b5, b3, bp]);
  });
  {
    const b3 = cbn(x, 384, 3, 3, 'valid', 2);
    const bd = cbn(cbn(cbn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, 'valid', 2);
    const bp = pool('MaxPooling2D', x, 2, 'valid');
    x = concat('mixed3', [b3, bd, bp]);
  }
  [128, 160, 160, 192].forEach((c7, i) => {
    const b1 = cbn(x, 192, 1, 1);
    const b7 = cbn(cbn(cbn(x, c7, 1, 1), c7, 1, 7), 192, 7, 1);
    let bd = cbn(cbn(x, c7, 1, 1), c7, 7, 1);
    bd = cbn(cbn(cbn(bd, c7, 1, 7), c7, 7, 1), 192, 1, 7);
    const bp = cbn(pool('AveragePooling2D', x, 1, 'same'), 192, 1, 1);
    x = concat(`mixed${4 + i}`, [b1, b7, bd, bp]);
  });
  {
    const b3 = cbn(cbn(x, 192, 1, 1), 320, 3, 3, 'valid', 2);
    const b7 = cbn(cbn(cbn(cbn(x, 192, 1, 1), 192, 1, 7), 192, 7, 1), 192, 3, 3, 'valid', 2);
    const bp = pool('MaxPooling2D', x, 2, 'valid');
    x = concat('mixed8', [b3, b7, bp]);
  }
  [0, 1].forEach((i) => {
    const b1 = cbn(x, 320, 1, 1);
    const b3 = cbn(x, 384, 1, 1);
    const b3c = concat(`mixed9_${i}`, [cbn(b3, 384, 1, 3), cbn(b3, 384, 3, 1)]);
    const bd = cbn(cbn(x, 448, 1, 1), 384, 3, 3);
    const bdc = concat(`concatenate_${i + 1}`, [cbn(bd, 384, 1, 3), cbn(bd, 384, 3, 1)]);
    const bp = cbn(pool('AveragePooling2D', x, 1, 'same'), 192, 1, 1);
    x = concat(`mixed${9 + i}`, [b1, b3c, bdc, bp]);
  });
  x = g.add('GlobalAveragePooling2D', 'avg_pool', {}, [x]);
  g.dense('predictions', x, 2048, 1000, 'softmax');
  return g;
}

function vitB16(): ConfigBuilder {
  const d = 768;
  const g = new ConfigBuilder([224, 224, 3]);
  const ln = (name: string, x: string) => g.add('LayerNormalization', name, { axis: -1, epsilon: 1e-6 }, [x], [['gamma', [d], 0.1], ['beta', [d], 0.1]]);
  let x = g.conv('patch_embed', 'input', 3, d, 16, { strides: 16 });
  x = g.add('Reshape', 'patch_tokens', { target_shape: [196, d] }, [x]);
  x = g.add('NeuronLens>ClassToken', 'cls_token', {}, [x], [['cls', [1, 1, d], 0.02]]);
  x = g.add('NeuronLens>PositionEmbedding', 'pos_embed', {}, [x], [['pos', [1, 197, d], 0.02]]);
  for (let l = 0; l < 12; l++) {
    let h = ln(`block_${l}_ln1`, x);
    h = g.add('NeuronLens>MultiHeadSelfAttention', `block_${l}_attn`, { num_heads: 12 }, [h], [
      ['qkv_kernel', [d, 3 * d], Math.sqrt(6 / d)], ['qkv_bias', [3 * d], 0.02], ['out_kernel', [d, d], Math.sqrt(3 / d)], ['out_bias', [d], 0.02],
    ]);
    const r = g.add('Add', `block_${l}_res1`, {}, [x, h]);
    h = ln(`block_${l}_ln2`, r);
    h = g.dense(`block_${l}_mlp1`, h, d, 3072, 'gelu');
    h = g.dense(`block_${l}_mlp2`, h, 3072, d);
    x = g.add('Add', `block_${l}`, {}, [r, h]);
  }
  x = ln('final_ln', x);
  x = g.add('NeuronLens>ClassTokenPool', 'cls_pool', {}, [x]);
  x = g.dense('logits', x, d, 1000);
  g.add('Activation', 'probs', { activation: 'softmax' }, [x]);
  return g;
}

const BUILDERS: Record<Exclude<BenchModel, 'vit_b16_hf'>, () => ConfigBuilder> = {
  mobilenet_v1: mobilenetV1,
  resnet50v2: resnet50v2,
  inceptionv3: inceptionV3,
  vit_b16: vitB16,
};

/**
 * One benchmark architecture as the product's NLModel (KerasGraph + the importer's shape dry run and logits
 * detection), with random weights. Input range [-1, 1] (the Keras applications' preprocessing).
 */
export function buildBenchModel(name: BenchModel, opts: { foldBatchNorm?: boolean } = {}): NLModel {
  if (name === 'vit_b16_hf') return buildHfVitB16(); // a Hugging Face checkpoint through its importer (./hfvit.ts)
  const make = BUILDERS[name];
  if (!make) throw new Error(`unknown bench model "${name}" (known: ${BENCH_MODELS.join(', ')})`);
  const g = make();
  const src = `bench:${name}`;
  const disposeWeights = () => { for (const w of g.weights.values()) for (const t of w.values()) t.dispose(); };
  let imported: ReturnType<typeof fromKerasGraph>;
  try {
    imported = fromKerasGraph(new KerasGraph(g.topology(), g.weights, { foldBatchNorm: opts.foldBatchNorm ?? true }), 'keras', src);
  } catch (e) {
    disposeWeights();
    throw e;
  }
  const [, h, w, c] = g.inputShape.length === 3 ? [null, ...g.inputShape] : g.inputShape;
  return {
    format: 'keras',
    source: src,
    name,
    input: { height: h as number, width: w as number, channels: c as number },
    preprocess: { scale: [2, 2, 2], offset: [-1, -1, -1], describe: '[0,1] -> [-1,1]' },
    layers: imported.layers.map((l) => (l.name === imported.logitsLayer ? { ...l, isLogits: true } : l)),
    logitsLayer: imported.logitsLayer,
    classCount: countClasses(imported.layers, imported.logitsLayer),
    files: [],
    tap: (names, x) => imported.run(x, names),
    dispose: () => { imported.dispose(); disposeWeights(); },
  };
}
