// An interpreter for Keras model configs (the `modelTopology` of a TF.js layers model, and the `config.json`
// of a Keras file): it runs each layer as plain TF.js ops, channels-last, so that gradients with respect to
// the input flow and no fused op computes filter gradients. No code from the model file runs: only the
// layer classes listed here are understood; anything else is an error that names it.
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo } from './types';
import { findFoldablePairs, FOLDABLE_CONVS, foldedConv } from './fold';
import { type AffineActivation, channelAffine } from '../backend/affine';
import { gelu } from '../backend/actgrad';
import { layerNorm } from '../backend/layernorm';
import { type ConvActivation, convolution, type FlippedFilters, FUSABLE_ACTIVATIONS } from './layers/conv';
import { denseKernel, denseLastAxis } from './layers/dense';
import { multiHeadAttention, selfAttention } from './layers/attention';
import { checkLayerConfig, checkStructure, KERAS_TOPOLOGY } from './schema';

/** Weights of one layer, by Keras weight name (`kernel`, `bias`, `gamma`, `moving_mean`, ...). */
export type LayerWeights = Map<string, tf.Tensor>;

interface NodeRef { layer: string; node: number; tensor: number }

interface GraphNode {
  name: string;
  className: string;
  config: Record<string, any>;
  inputs: NodeRef[];
  apply: (xs: tf.Tensor[]) => tf.Tensor;
  /** Name of the virtual pre-activation output when this layer ends in a softmax activation. */
  preSoftmax?: string;
  /** The layer without its final activation (set with preSoftmax). */
  preApply?: (xs: tf.Tensor[]) => tf.Tensor;
}

/** The Keras weight names of a layer class, in `get_weights()` order (for files that store them by index). */
export function kerasWeightNames(className: string, config: Record<string, any>): string[] {
  const bias = config.use_bias === false ? [] : ['bias'];
  switch (className) {
    case 'Conv2D': case 'Dense': return ['kernel', ...bias];
    case 'DepthwiseConv2D': return ['depthwise_kernel', ...bias];
    case 'SeparableConv2D': return ['depthwise_kernel', 'pointwise_kernel', ...bias];
    case 'BatchNormalization':
      return [...(config.scale === false ? [] : ['gamma']), ...(config.center === false ? [] : ['beta']), 'moving_mean', 'moving_variance'];
    case 'LayerNormalization':
      return [...(config.scale === false ? [] : ['gamma']), ...(config.center === false ? [] : ['beta'])];
    case 'Normalization': return ['mean', 'variance'];
    case 'PReLU': return ['alpha'];
    case 'NeuronLens>ClassToken': return ['cls'];
    case 'NeuronLens>PositionEmbedding': return ['pos'];
    case 'NeuronLens>MultiHeadSelfAttention': return ['qkv_kernel', 'qkv_bias', 'out_kernel', 'out_bias'];
    case 'MultiHeadAttention':
      // Sublayers query, key, value, attention_output (EinsumDense), each kernel then bias.
      return MHA_PARTS.flatMap((p) => [`${p}/kernel`, ...(config.use_bias === false ? [] : [`${p}/bias`])]);
    default: return [];
  }
}

/** The EinsumDense sublayers of a Keras MultiHeadAttention, in weight order. */
export const MHA_PARTS = ['query', 'key', 'value', 'attention_output'] as const;

const pair = (v: unknown, what: string): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((n) => typeof n === 'number')) return [v[0], v[1]];
  throw new Error(`expected a number or a pair for ${what}, got ${JSON.stringify(v)}`);
};

function activation(name: string | undefined | null, where: string): ((x: tf.Tensor) => tf.Tensor) | null {
  switch (name ?? 'linear') {
    case 'linear': return null;
    case 'relu': return (x) => tf.relu(x);
    case 'relu6': return (x) => tf.relu6(x);
    case 'sigmoid': return (x) => tf.sigmoid(x);
    case 'tanh': return (x) => tf.tanh(x);
    case 'softmax': return (x) => tf.softmax(x, -1);
    case 'elu': return (x) => tf.elu(x);
    case 'selu': return (x) => tf.selu(x);
    case 'softplus': return (x) => tf.softplus(x);
    case 'softsign': return (x) => tf.div(x, tf.add(tf.abs(x), 1));
    case 'swish': case 'silu': return (x) => tf.mul(x, tf.sigmoid(x));
    case 'gelu': return gelu;
    case 'hard_sigmoid': return (x) => tf.clipByValue(tf.add(tf.mul(x, 0.2), 0.5), 0, 1);
    case 'exponential': return (x) => tf.exp(x);
    default: throw new Error(`${where}: unsupported activation "${name}"`);
  }
}


function activationName(cfg: Record<string, any>): string | undefined {
  const a = cfg.activation;
  if (a && typeof a === 'object') {
    // Keras 3 serialized activation: {class_name: 'function', config: 'relu'} or a config with a name.
    if (typeof a.config === 'string') return a.config;
    return a.config?.name ?? a.class_name;
  }
  return a;
}

/** A convolution's padding: Keras's 'same' / 'valid', or explicit [[0, 0], rows, cols, [0, 0]] (a fused ZeroPadding2D). */
function paddingMode(cfg: Record<string, any>, where: string): 'same' | 'valid' | tf.backend_util.ExplicitPadding {
  const p = cfg.padding ?? 'valid';
  if (p === 'same' || p === 'valid') return p;
  if (Array.isArray(p) && p.length === 4 && p.every((q) => Array.isArray(q) && q.length === 2 && q.every((v) => Number.isInteger(v) && v >= 0))) {
    return p as tf.backend_util.ExplicitPadding;
  }
  throw new Error(`${where}: unsupported padding ${JSON.stringify(p)}`);
}

/** ZeroPadding2D's rows and columns: an int, [rows, cols] or [[top, bottom], [left, right]]. */
function zeroPadding(cfg: Record<string, any>, where: string): { rows: [number, number]; cols: [number, number] } {
  checkChannelsLast(cfg, where);
  const p = cfg.padding ?? 1;
  if (typeof p === 'number') return { rows: [p, p], cols: [p, p] };
  if (Array.isArray(p) && typeof p[0] === 'number') return { rows: [p[0], p[0]], cols: [p[1], p[1]] };
  return { rows: pair(p[0], `${where} padding`), cols: pair(p[1], `${where} padding`) };
}

function checkChannelsLast(cfg: Record<string, any>, where: string): void {
  if (cfg.data_format && cfg.data_format !== 'channels_last') {
    throw new Error(`${where}: data_format "${cfg.data_format}" is not supported (only channels_last)`);
  }
}

/** Builds the op function of one layer. Weights are taken (owned) by the returned closure's graph. */
function buildLayer(className: string, name: string, cfg: Record<string, any>, w: LayerWeights, keep: tf.Tensor[], flipped: FlippedFilters = new Map()):
  { apply: (xs: tf.Tensor[]) => tf.Tensor; preApply?: (xs: tf.Tensor[]) => tf.Tensor } {
  const where = `layer "${name}" (${className})`;
  const need = (key: string): tf.Tensor => {
    const t = w.get(key);
    if (!t) throw new Error(`${where}: missing weight "${key}" (has: ${[...w.keys()].join(', ') || 'none'})`);
    return t;
  };
  const opt = (key: string): tf.Tensor | undefined => w.get(key);
  const own = <T extends tf.Tensor>(t: T): T => { keep.push(t); return t; };
  const one = (xs: tf.Tensor[]): tf.Tensor => {
    if (xs.length !== 1) throw new Error(`${where}: expected 1 input, got ${xs.length}`);
    return xs[0];
  };
  // Layers whose last step is an activation expose the pre-activation output when it is a softmax.
  const withActivation = (f: (x: tf.Tensor) => tf.Tensor) => {
    const actName = activationName(cfg);
    const act = activation(actName, where);
    return {
      apply: (xs: tf.Tensor[]) => { const y = f(one(xs)); return act ? act(y) : y; },
      preApply: actName === 'softmax' ? (xs: tf.Tensor[]) => f(one(xs)) : undefined,
    };
  };

  switch (className) {
    case 'InputLayer':
      return { apply: one };
    case 'Conv2D':
    case 'DepthwiseConv2D': {
      checkChannelsLast(cfg, where);
      const depthwise = className === 'DepthwiseConv2D';
      if (!depthwise && (cfg.groups ?? 1) !== 1) throw new Error(`${where}: grouped convolution (groups=${cfg.groups}) is not supported`);
      const dil = pair(cfg.dilation_rate ?? 1, `${where} dilation_rate`);
      if (depthwise && (dil[0] !== 1 || dil[1] !== 1)) throw new Error(`${where}: dilated depthwise convolution has no gradient in TF.js and is not supported`);
      const actName = activationName(cfg) ?? 'linear';
      const fused = FUSABLE_ACTIVATIONS.has(actName);
      const conv = convolution({
        kernel: need(depthwise ? 'depthwise_kernel' : 'kernel') as tf.Tensor4D,
        bias: cfg.use_bias === false ? undefined : need('bias'),
        strides: pair(cfg.strides ?? 1, `${where} strides`),
        pad: paddingMode(cfg, where),
        dilations: dil,
        depthwise,
        activation: fused ? (actName as ConvActivation) : 'linear',
      }, keep, flipped);
      if (fused) return { apply: (xs) => conv(one(xs) as tf.Tensor4D) };
      return withActivation((x) => conv(x as tf.Tensor4D));
    }
    case 'SeparableConv2D': {
      checkChannelsLast(cfg, where);
      const dw = need('depthwise_kernel') as tf.Tensor4D;
      const pw = need('pointwise_kernel') as tf.Tensor4D;
      const bias = cfg.use_bias === false ? undefined : need('bias');
      const strides = pair(cfg.strides ?? 1, `${where} strides`);
      const pad = paddingMode(cfg, where);
      return withActivation((x) => {
        const d = tf.depthwiseConv2d(x as tf.Tensor4D, dw, strides, pad, 'NHWC');
        const y = tf.conv2d(d, pw, 1, 'valid');
        return bias ? tf.add(y, bias) : y;
      });
    }
    case 'Dense': {
      const kernel = denseKernel(need('kernel') as tf.Tensor2D, keep);
      const bias = cfg.use_bias === false ? undefined : need('bias');
      return withActivation((x) => denseLastAxis(x, kernel, bias));
    }
    case 'BatchNormalization': {
      const axis: number = Array.isArray(cfg.axis) ? cfg.axis[0] : (cfg.axis ?? -1);
      const eps = cfg.epsilon ?? 1e-3;
      // Inference batch norm is an affine map per channel, y = x * a + b (TF.js batchNorm's gradient tiles, slow on
      // wasm); `activation` (relu/relu6) is set only by KerasGraph.fuseChains, for a ReLU that follows it.
      const act = (activationName(cfg) ?? 'linear') as AffineActivation;
      if (!['linear', 'relu', 'relu6'].includes(act)) throw new Error(`${where}: activation "${act}" cannot be fused`);
      const [a, b] = tf.tidy(() => {
        const mean = need('moving_mean');
        const variance = need('moving_variance');
        const gamma = cfg.scale === false ? tf.onesLike(mean) : need('gamma');
        const beta = cfg.center === false ? tf.zerosLike(mean) : need('beta');
        const a = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
        return [a, tf.sub(beta, tf.mul(mean, a))];
      });
      own(a); own(b);
      return { apply: (xs) => {
        const x = one(xs);
        if (axis === -1 || axis === x.rank - 1) return channelAffine(x, a, b, act);
        if (act !== 'linear') throw new Error(`${where}: a fused activation needs the channel axis last`);
        const shape = x.shape.map((_, i) => (i === axis ? -1 : 1));
        return tf.add(tf.mul(x, tf.reshape(a, shape)), tf.reshape(b, shape));
      } };
    }
    case 'LayerNormalization': {
      const axis = Array.isArray(cfg.axis) ? cfg.axis : [cfg.axis ?? -1];
      if (axis.length !== 1 || (axis[0] !== -1 && axis[0] < 1)) throw new Error(`${where}: layer normalization over axes ${JSON.stringify(cfg.axis)} is not supported (only the last axis)`);
      const eps = cfg.epsilon ?? 1e-3;
      const gamma = opt('gamma');
      const beta = opt('beta');
      return { apply: (xs) => layerNorm(one(xs), eps, gamma, beta) };
    }
    case 'Activation':
    {
      const actName = activationName(cfg);
      const act = activation(actName, where);
      return { apply: (xs) => (act ? act(one(xs)) : one(xs)) };
    }
    case 'ReLU': {
      const maxValue = cfg.max_value ?? null;
      const slope = cfg.negative_slope ?? 0;
      const threshold = cfg.threshold ?? 0;
      if (threshold !== 0) throw new Error(`${where}: ReLU threshold ${threshold} is not supported`);
      return { apply: (xs) => {
        const x = one(xs);
        if (maxValue === 6 && !slope) return tf.relu6(x);
        let y = slope ? tf.leakyRelu(x, slope) : tf.relu(x);
        if (maxValue !== null) y = tf.minimum(y, maxValue);
        return y;
      } };
    }
    case 'LeakyReLU': {
      const alpha = cfg.alpha ?? cfg.negative_slope ?? 0.3;
      return { apply: (xs) => tf.leakyRelu(one(xs), alpha) };
    }
    case 'PReLU': {
      const alpha = need('alpha');
      return { apply: (xs) => tf.prelu(one(xs), alpha) };
    }
    case 'ELU': return { apply: (xs) => tf.elu(one(xs)) };
    case 'Softmax': {
      const axis = cfg.axis ?? -1;
      return { apply: (xs) => tf.softmax(one(xs), axis) };
    }
    case 'ZeroPadding2D': {
      const { rows, cols } = zeroPadding(cfg, where);
      return { apply: (xs) => tf.pad(one(xs), [[0, 0], rows, cols, [0, 0]]) };
    }
    case 'Cropping2D': {
      const c = cfg.cropping ?? 0;
      let rows: [number, number]; let cols: [number, number];
      if (typeof c === 'number') { rows = [c, c]; cols = [c, c]; }
      else if (typeof c[0] === 'number') { rows = [c[0], c[0]]; cols = [c[1], c[1]]; }
      else { rows = pair(c[0], `${where} cropping`); cols = pair(c[1], `${where} cropping`); }
      return { apply: (xs) => {
        const x = one(xs);
        return tf.slice(x, [0, rows[0], cols[0], 0], [-1, x.shape[1]! - rows[0] - rows[1], x.shape[2]! - cols[0] - cols[1], -1]);
      } };
    }
    case 'MaxPooling2D': case 'AveragePooling2D': {
      checkChannelsLast(cfg, where);
      const size = pair(cfg.pool_size ?? 2, `${where} pool_size`);
      const strides = pair(cfg.strides ?? size, `${where} strides`);
      const pad = paddingMode(cfg, where);
      const f = className === 'MaxPooling2D' ? tf.maxPool : tf.avgPool;
      return { apply: (xs) => f(one(xs) as tf.Tensor4D, size, strides, pad) };
    }
    case 'GlobalAveragePooling2D': case 'GlobalMaxPooling2D': {
      checkChannelsLast(cfg, where);
      const keep = !!cfg.keepdims;
      const f = className === 'GlobalAveragePooling2D' ? tf.mean : tf.max;
      return { apply: (xs) => f(one(xs), [1, 2], keep) };
    }
    case 'GlobalAveragePooling1D': case 'GlobalMaxPooling1D': {
      const keep = !!cfg.keepdims;
      const f = className === 'GlobalAveragePooling1D' ? tf.mean : tf.max;
      return { apply: (xs) => f(one(xs), 1, keep) };
    }
    case 'Flatten':
      return { apply: (xs) => { const x = one(xs); return tf.reshape(x, [x.shape[0], -1]); } };
    case 'Reshape': {
      const target: number[] = cfg.target_shape;
      if (!Array.isArray(target)) throw new Error(`${where}: missing target_shape`);
      return { apply: (xs) => { const x = one(xs); return tf.reshape(x, [x.shape[0], ...target]); } };
    }
    case 'Permute': {
      const dims: number[] = cfg.dims;
      return { apply: (xs) => tf.transpose(one(xs), [0, ...dims]) };
    }
    case 'Dropout': case 'SpatialDropout2D': case 'GaussianNoise': case 'GaussianDropout': case 'AlphaDropout': case 'ActivityRegularization':
      return { apply: one };
    case 'Rescaling': {
      const scale = cfg.scale ?? 1;
      const offset = cfg.offset ?? 0;
      return { apply: (xs) => tf.add(tf.mul(one(xs), scale), offset) };
    }
    case 'Normalization': {
      // Keras 3 keeps a mean/variance given at construction in the config instead of in weights.
      const fromCfg = cfg.mean !== undefined && cfg.mean !== null && cfg.variance !== undefined && cfg.variance !== null;
      const mean = fromCfg ? own(tf.tensor(cfg.mean)) : need('mean');
      const variance = fromCfg ? tf.tensor(cfg.variance) : need('variance');
      const std = own(tf.tidy(() => tf.sqrt(tf.maximum(variance, 1e-7))));
      if (fromCfg) variance.dispose();
      return { apply: (xs) => tf.div(tf.sub(one(xs), mean), std) };
    }
    case 'Add': return { apply: (xs) => xs.reduce((a, b) => tf.add(a, b)) };
    case 'Subtract': return { apply: (xs) => tf.sub(xs[0], xs[1]) };
    case 'Multiply': return { apply: (xs) => xs.reduce((a, b) => tf.mul(a, b)) };
    case 'Average': return { apply: (xs) => tf.div(xs.reduce((a, b) => tf.add(a, b)), xs.length) };
    case 'Maximum': return { apply: (xs) => xs.reduce((a, b) => tf.maximum(a, b)) };
    case 'Minimum': return { apply: (xs) => xs.reduce((a, b) => tf.minimum(a, b)) };
    case 'Concatenate': {
      const axis = cfg.axis ?? -1;
      return { apply: (xs) => tf.concat(xs, axis) };
    }
    case 'UpSampling2D': {
      const size = pair(cfg.size ?? 2, `${where} size`);
      if ((cfg.interpolation ?? 'nearest') !== 'nearest') throw new Error(`${where}: interpolation "${cfg.interpolation}" is not supported`);
      return { apply: (xs) => {
        const x = one(xs) as tf.Tensor4D;
        return tf.image.resizeNearestNeighbor(x, [x.shape[1] * size[0], x.shape[2] * size[1]]);
      } };
    }
    // The project's own ViT layers (see scripts/train_models.py for the exact definitions).
    case 'NeuronLens>ClassToken': {
      const cls = need('cls');
      return { apply: (xs) => {
        const x = one(xs);
        return tf.concat([tf.tile(cls, [x.shape[0], 1, 1]), x], 1);
      } };
    }
    case 'NeuronLens>PositionEmbedding': {
      const pos = need('pos');
      return { apply: (xs) => tf.add(one(xs), pos) };
    }
    case 'NeuronLens>ClassTokenPool':
      return { apply: (xs) => { const x = one(xs); return tf.reshape(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [x.shape[0], x.shape[2]!]); } };
    case 'NeuronLens>MultiHeadSelfAttention': {
      const heads: number = cfg.num_heads;
      const qkvK = denseKernel(need('qkv_kernel') as tf.Tensor2D, keep);
      const qkvB = need('qkv_bias');
      const outK = denseKernel(need('out_kernel') as tf.Tensor2D, keep);
      const outB = need('out_bias');
      const dim = outK.w.shape[0];
      if (!heads || dim % heads !== 0) throw new Error(`${where}: num_heads ${heads} does not divide the width ${dim}`);
      return { apply: (xs) => selfAttention(one(xs), heads, qkvK, qkvB, outK, outB) };
    }
    case 'MultiHeadAttention': {
      if (cfg.attention_axes !== undefined && cfg.attention_axes !== null && !(Array.isArray(cfg.attention_axes) && cfg.attention_axes.length === 1 && cfg.attention_axes[0] === 1)) {
        throw new Error(`${where}: attention_axes ${JSON.stringify(cfg.attention_axes)} is not supported (only attention over the tokens of [batch, tokens, dim])`);
      }
      const heads: number = cfg.num_heads;
      const [qk, kk, vk, ok] = MHA_PARTS.map((p) => need(`${p}/kernel`));
      const bias = cfg.use_bias !== false;
      const d = qk.shape[0];
      const keyDim = qk.shape[2]!;
      const valueDim = vk.shape[2]!;
      const outDim = ok.shape[ok.rank - 1];
      const okShape = (t: tf.Tensor, s: number[]) => t.shape.length === s.length && t.shape.every((v, i) => v === s[i]);
      if (!okShape(qk, [d, heads, keyDim]) || !okShape(kk, [d, heads, keyDim]) || !okShape(vk, [d, heads, valueDim]) || !okShape(ok, [heads, valueDim, outDim])) {
        throw new Error(`${where}: kernel shapes query ${JSON.stringify(qk.shape)}, key ${JSON.stringify(kk.shape)}, value ${JSON.stringify(vk.shape)}, output ${JSON.stringify(ok.shape)} do not fit num_heads ${heads} (expected [dim, heads, key_dim] and [heads, value_dim, out])`);
      }
      // One matmul for q, k and v: [D, H*K | H*K | H*V]; the output projection as [H*V, Dout].
      const [wqkv, bqkv, wo, bo] = tf.tidy(() => {
        const w = tf.concat([tf.reshape(qk, [d, -1]), tf.reshape(kk, [d, -1]), tf.reshape(vk, [d, -1])], 1);
        const b = bias
          ? tf.concat([tf.reshape(need('query/bias'), [-1]), tf.reshape(need('key/bias'), [-1]), tf.reshape(need('value/bias'), [-1])])
          : tf.zeros([heads * (2 * keyDim + valueDim)]);
        const o = tf.reshape(ok, [heads * valueDim, outDim]);
        const ob = bias ? tf.reshape(need('attention_output/bias'), [outDim]) : tf.zeros([outDim]);
        return [w, b, o, ob];
      });
      own(wqkv); own(bqkv); own(wo); own(bo);
      const wqkvK = denseKernel(wqkv as tf.Tensor2D, keep);
      const woK = denseKernel(wo as tf.Tensor2D, keep);
      return { apply: (xs) => {
        const x = one(xs);
        if (x.rank !== 3) throw new Error(`${where}: expected a [batch, tokens, dim] input, got shape ${JSON.stringify(x.shape)}`);
        return multiHeadAttention(x, heads, keyDim, valueDim, wqkvK, bqkv, woK, bo);
      } };
    }
    default:
      throw new Error(`${where}: unsupported layer class "${className}" (no code from the model file is run, so custom and Lambda layers cannot be loaded)`);
  }
}

function parseInbound(raw: unknown, where: string): NodeRef[] {
  if (!Array.isArray(raw) || raw.length === 0) return [];
  if (raw.length > 1) throw new Error(`${where}: a layer called more than once (shared layers) is not supported`);
  const node = raw[0];
  if (Array.isArray(node)) {
    // Keras 2: [[name, nodeIndex, tensorIndex, kwargs], ...]
    return node.map((r: any) => ({ layer: r[0], node: r[1] ?? 0, tensor: r[2] ?? 0 }));
  }
  if (node && typeof node === 'object') {
    // Keras 3: {args: [keras_tensor | [keras_tensor, ...]], kwargs}
    const refs: NodeRef[] = [];
    const visit = (a: any): void => {
      if (Array.isArray(a)) { a.forEach(visit); return; }
      if (a && a.class_name === '__keras_tensor__') {
        const history = a.config?.keras_history;
        if (!Array.isArray(history) || typeof history[0] !== 'string') throw new Error(`${where}: an input tensor has no "keras_history" [layer, node, tensor]`);
        const [layer, n, t] = history;
        refs.push({ layer, node: n, tensor: t });
      }
    };
    visit((node as any).args);
    return refs;
  }
  throw new Error(`${where}: unreadable inbound_nodes`);
}

/** Tensors passed as keyword arguments of a layer call (`value`, `key`, `attention_mask`, ...). */
function inboundKwargTensors(raw: unknown): Map<string, NodeRef> {
  const out = new Map<string, NodeRef>();
  if (!Array.isArray(raw) || raw.length !== 1) return out;
  const node = raw[0];
  const kwargs: Record<string, any>[] = Array.isArray(node)
    ? node.map((r: any) => r?.[3]).filter((k: any) => k && typeof k === 'object') // Keras 2: per-input kwargs
    : [node?.kwargs ?? {}];
  for (const kw of kwargs) {
    for (const [key, v] of Object.entries(kw)) {
      if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') out.set(key, { layer: v[0], node: v[1], tensor: v[2] ?? 0 });
      else if (v && (v as any).class_name === '__keras_tensor__') {
        const [layer, n, t] = (v as any).config.keras_history;
        out.set(key, { layer, node: n, tensor: t });
      }
    }
  }
  return out;
}

/** MultiHeadAttention is called as (query, value[, key]): only self-attention (all the same tensor) is supported. */
function selfAttentionInput(args: NodeRef[], kwargs: Map<string, NodeRef>, where: string): NodeRef[] {
  const other = [...kwargs.keys()].filter((k) => k !== 'value' && k !== 'key' && k !== 'query');
  if (other.length) throw new Error(`${where}: tensor arguments ${other.join(', ')} are not supported (only unmasked self-attention)`);
  const all = [...args, ...['query', 'value', 'key'].map((k) => kwargs.get(k)).filter((r): r is NodeRef => !!r)];
  if (all.length === 0) return [];
  if (all.some((r) => r.layer !== all[0].layer || r.tensor !== all[0].tensor)) {
    throw new Error(`${where}: query, key and value come from different layers (${all.map((r) => r.layer).join(', ')}); only self-attention is supported`);
  }
  return [all[0]];
}

export interface KerasGraphOptions {
  /** Fold inference batch norms into the convolution before them (see ./fold.ts). Default true. */
  foldBatchNorm?: boolean;
}

export interface KerasTopology {
  /** `Functional`/`Model`/`Sequential` with its config. */
  class_name: string;
  config: any;
}

/** A convolution as built for a fused chain: its class, config and (possibly folded) weights. */
interface ChainConv { className: string; config: Record<string, any>; weights: LayerWeights }

/** 'relu' / 'relu6' when the layer is exactly that activation (a fused convolution can run it), else null. */
function fusableActivation(n: { className: string; config: Record<string, any> }): 'relu' | 'relu6' | null {
  if (n.className === 'Activation') {
    const a = activationName(n.config);
    return a === 'relu' || a === 'relu6' ? a : null;
  }
  if (n.className !== 'ReLU') return null;
  const c = n.config;
  if ((c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) return null;
  const max = c.max_value ?? null;
  return max === null ? 'relu' : max === 6 ? 'relu6' : null;
}

/** A runnable, differentiable Keras graph. */
export class KerasGraph {
  readonly nodes: GraphNode[] = [];
  readonly inputName: string;
  readonly inputShape: (number | null)[];
  readonly outputName: string;
  private readonly byName = new Map<string, GraphNode>();
  private readonly owned: tf.Tensor[] = [];
  private readonly planCache = new Map<string, GraphNode[]>();
  /**
   * Fused chains, by the name of their last layer (see {@link fuseChains}): a convolution with the padding before
   * it, the batch norm after it folded in (./fold.ts) and/or the relu/relu6 after that, run as one fused convolution
   * (./layers/conv.ts); or an unfolded batch norm and its relu as one op (../backend/affine.ts). `absorbed`: the layers
   * before the last whose outputs the chain does not compute; `node`: computes the last layer's output from the
   * first one's inputs.
   */
  private readonly fused = new Map<string, { absorbed: string[]; node: GraphNode }>();
  /** Flipped filters shared by the convolutions built from one kernel (see ./layers/conv.ts). */
  private readonly flipped: FlippedFilters = new Map();

  constructor(topology: KerasTopology, weights: Map<string, LayerWeights>, options: KerasGraphOptions = {}) {
    checkStructure(KERAS_TOPOLOGY, topology, 'model config');
    const cls = topology.class_name;
    let layers: any[];
    let inputLayers: any[] | undefined;
    let outputLayers: any[] | undefined;
    if (cls === 'Sequential') {
      layers = Array.isArray(topology.config) ? topology.config : topology.config.layers;
      layers = sequentialToFunctional(layers);
    } else if (cls === 'Model' || cls === 'Functional') {
      layers = topology.config.layers;
      inputLayers = topology.config.input_layers;
      outputLayers = topology.config.output_layers;
    } else {
      throw new Error(`model topology class "${cls}" is not supported (expected Sequential, Model or Functional)`);
    }
    if (!Array.isArray(layers) || layers.length === 0) throw new Error('model topology has no layers');
    try {
      for (const l of layers) {
        const name: string = l.name ?? l.config?.name;
        const className: string = l.class_name;
        const where = `layer "${name}" (${className})`;
        if (className === 'Functional' || className === 'Model' || className === 'Sequential') {
          throw new Error(`${where}: nested models are not supported; save the model with its layers flattened`);
        }
        const cfg = l.config ?? {};
        checkLayerConfig(cfg, where);
        const built = buildLayer(className, name, cfg, weights.get(name) ?? new Map(), this.owned, this.flipped);
        let inputs = parseInbound(l.inbound_nodes, where);
        if (className === 'MultiHeadAttention') inputs = selfAttentionInput(inputs, inboundKwargTensors(l.inbound_nodes), where);
        const node: GraphNode = { name, className, config: cfg, inputs, apply: built.apply };
        if (built.preApply) { node.preSoftmax = `${name}/pre_softmax`; node.preApply = built.preApply; }
        for (const r of node.inputs) {
          if (!this.byName.has(r.layer)) throw new Error(`${where}: input "${r.layer}" is not defined before it`);
          if (r.tensor !== 0) throw new Error(`${where}: multi-output inbound layers are not supported`);
        }
        this.nodes.push(node);
        this.byName.set(name, node);
      }
      this.fuseChains(weights, options.foldBatchNorm ?? true);
    } catch (e) {
      this.dispose();
      throw e;
    }
    const firstName = (spec: any): string | undefined => (Array.isArray(spec) ? (Array.isArray(spec[0]) ? spec[0][0] : spec[0]) : undefined);
    const inputs = this.nodes.filter((n) => n.className === 'InputLayer');
    if (inputs.length !== 1) throw new Error(`models with ${inputs.length} inputs are not supported (exactly one image input)`);
    this.inputName = firstName(inputLayers) ?? inputs[0].name;
    const ic = inputs[0].config;
    this.inputShape = ic.batch_input_shape ?? ic.batch_shape ?? [null, ...(ic.input_shape ?? [])];
    if (outputLayers && Array.isArray(outputLayers[0]) && outputLayers.length > 1) {
      throw new Error(`models with ${outputLayers.length} outputs are not supported`);
    }
    this.outputName = firstName(outputLayers) ?? this.nodes[this.nodes.length - 1].name;
    if (!this.byName.has(this.outputName)) {
      this.dispose();
      throw new Error(`the model's output layer "${this.outputName}" (output_layers) is not one of its layers`);
    }
  }

  /** Every tappable output: layer outputs, plus the pre-softmax output of layers that end in a softmax. */
  outputNames(): { name: string; className: string; preSoftmaxOf?: string }[] {
    const out: { name: string; className: string; preSoftmaxOf?: string }[] = [];
    for (const n of this.nodes) {
      if (n.preSoftmax) out.push({ name: n.preSoftmax, className: n.className, preSoftmaxOf: n.name });
      out.push({ name: n.name, className: n.className });
    }
    return out;
  }

  node(name: string): GraphNode | undefined { return this.byName.get(name); }

  /** Consumers of each layer. */
  consumers(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const n of this.nodes) for (const r of n.inputs) m.set(r.layer, [...(m.get(r.layer) ?? []), n.name]);
    return m;
  }

  /** BN name -> conv name of every folded pair (empty when folding is off). */
  foldedPairs(): Map<string, string> {
    return new Map([...this.fused].filter(([, f]) => f.node.className === 'BatchNormalization').map(([bn, f]) => [bn, f.absorbed[f.absorbed.length - 1]]));
  }

  /** Every fused chain: its last layer -> the layers before it that it absorbs (see {@link fuseChains}). */
  fusedChains(): Map<string, string[]> {
    return new Map([...this.fused].map(([last, f]) => [last, [...f.absorbed]]));
  }

  /**
   * Fused chains around each convolution: [ZeroPadding2D ->] conv [-> BatchNormalization] [-> relu/relu6], each link
   * the only consumer of the one before. The padding becomes the convolution's explicit padding (Conv2D and
   * DepthwiseConv2D with 'valid' padding), the batch norm is folded into its weights (./fold.ts; also for
   * SeparableConv2D), the activation runs inside it (Conv2D and DepthwiseConv2D with a linear activation). Every
   * link ends a chain of its own (keyed by its name), so a plan that wants an inner output still fuses what it can.
   */
  private fuseChains(weights: Map<string, LayerWeights>, foldBatchNorm: boolean): void {
    const consumers = this.consumers();
    const soleConsumer = (name: string): GraphNode | undefined => {
      const users = consumers.get(name) ?? [];
      return users.length === 1 ? this.byName.get(users[0]) : undefined;
    };
    const bnOf = new Map([...(foldBatchNorm ? findFoldablePairs(this.nodes, consumers) : [])].map(([bn, conv]) => [conv, bn]));
    const folded = new Set(bnOf.values());
    // A batch norm left unfolded, then a relu/relu6 that only it feeds: one channel-affine op with the activation.
    for (const bn of this.nodes) {
      if (bn.className !== 'BatchNormalization' || folded.has(bn.name) || bn.inputs.length !== 1) continue;
      const axis = Array.isArray(bn.config.axis) ? (bn.config.axis.length === 1 ? bn.config.axis[0] : null) : (bn.config.axis ?? -1);
      const act = soleConsumer(bn.name);
      const a = act && act.inputs.length === 1 ? fusableActivation(act) : null;
      if (!act || !a || (axis !== -1 && axis !== 3)) continue;
      const built = buildLayer(bn.className, bn.name, { ...bn.config, activation: a }, weights.get(bn.name) ?? new Map(), this.owned, this.flipped);
      this.fused.set(act.name, {
        absorbed: [bn.name],
        node: { name: act.name, className: act.className, config: act.config, inputs: bn.inputs, apply: built.apply },
      });
    }
    for (const conv of this.nodes) {
      if (!FOLDABLE_CONVS.has(conv.className)) continue;
      const fusable = conv.className === 'Conv2D' || conv.className === 'DepthwiseConv2D';
      let chain: { absorbed: string[]; conv: ChainConv; inputs: GraphNode['inputs'] } = {
        absorbed: [], conv: { className: conv.className, config: conv.config, weights: weights.get(conv.name) ?? new Map() }, inputs: conv.inputs,
      };
      const add = (last: GraphNode): void => {
        const built = buildLayer(chain.conv.className, conv.name, chain.conv.config, chain.conv.weights, this.owned, this.flipped);
        this.fused.set(last.name, {
          absorbed: [...chain.absorbed],
          node: { name: last.name, className: last.className, config: last.config, inputs: chain.inputs, apply: built.apply },
        });
      };
      const padNode = conv.inputs.length === 1 ? this.byName.get(conv.inputs[0].layer) : undefined;
      if (fusable && padNode?.className === 'ZeroPadding2D' && (conv.config.padding ?? 'valid') === 'valid' && soleConsumer(padNode.name) === conv) {
        const { rows, cols } = zeroPadding(padNode.config, `layer "${padNode.name}" (ZeroPadding2D)`);
        chain = { absorbed: [padNode.name], conv: { ...chain.conv, config: { ...chain.conv.config, padding: [[0, 0], rows, cols, [0, 0]] } }, inputs: padNode.inputs };
        add(conv);
      }
      let last = conv;
      const bnName = bnOf.get(conv.name);
      if (bnName) {
        const bn = this.byName.get(bnName)!;
        const f = foldedConv(conv, chain.conv.weights, bn, weights.get(bnName) ?? new Map(), this.owned);
        chain = { absorbed: [...chain.absorbed, conv.name], conv: { ...chain.conv, config: { ...f.config, padding: chain.conv.config.padding }, weights: f.weights }, inputs: chain.inputs };
        add(bn);
        last = bn;
      }
      const act = soleConsumer(last.name);
      const a = act && act.inputs.length === 1 ? fusableActivation(act) : null;
      if (act && a && fusable && (activationName(conv.config) ?? 'linear') === 'linear') {
        chain = { absorbed: [...chain.absorbed, last.name], conv: { ...chain.conv, config: { ...chain.conv.config, activation: a } }, inputs: chain.inputs };
        add(act);
      }
    }
  }


  /**
   * The nodes needed to compute the wanted outputs, in topological order. A folded batch norm runs as its
   * folded convolution unless the convolution's own output is wanted too.
   */
  private plan(wanted: string[]): GraphNode[] {
    const key = wanted.join('\u0000');
    const hit = this.planCache.get(key);
    if (hit) return hit;
    const bases = wanted.map((w) => this.baseName(w));
    const wantedSet = new Set(bases);
    const substitute = new Map<string, GraphNode>();
    for (const [last, f] of this.fused) if (!f.absorbed.some((a) => wantedSet.has(a))) substitute.set(last, f.node);
    const needed = new Set<string>();
    const stack = [...bases];
    while (stack.length) {
      const n = stack.pop()!;
      if (needed.has(n)) continue;
      needed.add(n);
      for (const r of (substitute.get(n) ?? this.byName.get(n)!).inputs) stack.push(r.layer);
    }
    const plan = this.nodes.filter((n) => needed.has(n.name)).map((n) => substitute.get(n.name) ?? n);
    this.planCache.set(key, plan);
    return plan;
  }

  private baseName(name: string): string {
    if (this.byName.has(name)) return name;
    const pre = this.nodes.find((n) => n.preSoftmax === name);
    if (pre) return pre.name;
    throw new Error(`unknown layer "${name}"`);
  }

  /** Runs the graph on `x` and returns the named outputs. Differentiable. */
  run(x: tf.Tensor, wanted: string[]): tf.Tensor[] {
    const plan = this.plan(wanted);
    const values = new Map<string, tf.Tensor>();
    const pre = new Map<string, tf.Tensor>();
    const wantSet = new Set(wanted);
    // Memory: each layer runs in its own tidy, and a layer's output is freed after its last consumer in the plan
    // (unless wanted, or the input). What a gradient needs survives: TF.js keeps its own reference to every
    // tensor it saves for the backward pass. Without this every intermediate of every layer lived until the end of
    // the step (ViT-B/16 at batch 8 did not fit the 4 GB wasm heap).
    const lastUse = new Map<string, number>();
    plan.forEach((node, i) => node.inputs.forEach((r) => lastUse.set(r.layer, i)));
    const holders = new Map<tf.Tensor, number>(); // live values per tensor (a layer may return its input)
    const release = (name: string): void => {
      const t = values.get(name)!;
      const n = holders.get(t)! - 1;
      holders.set(t, n);
      if (n === 0 && t !== x && !wanted.some((w) => values.get(w) === t)) t.dispose();
    };
    plan.forEach((node, i) => {
      let y: tf.Tensor;
      if (node.className === 'InputLayer') {
        y = x;
      } else {
        const ins = node.inputs.map((r) => values.get(r.layer)!);
        if (node.preSoftmax && wantSet.has(node.preSoftmax)) {
          // Run the layer without its final softmax, keep that, then apply the softmax.
          const z = tf.tidy(() => node.preApply!(ins));
          pre.set(node.preSoftmax, z);
          y = tf.softmax(z, -1);
        } else {
          y = tf.tidy(() => node.apply(ins));
        }
      }
      values.set(node.name, y);
      holders.set(y, (holders.get(y) ?? 0) + 1);
      for (const r of new Set(node.inputs.map((q) => q.layer))) {
        if (lastUse.get(r) === i && !wantSet.has(r)) release(r);
      }
    });
    return wanted.map((w) => values.get(w) ?? pre.get(w)!);
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned.length = 0;
  }
}

function sequentialToFunctional(layers: any[]): any[] {
  if (!Array.isArray(layers) || layers.length === 0) throw new Error('Sequential model has no layers');
  const out: any[] = [];
  let prev: string;
  const first = layers[0];
  if (first.class_name === 'InputLayer') {
    out.push({ ...first, name: first.config.name, inbound_nodes: [] });
    prev = first.config.name;
  } else {
    const shape = first.config.batch_input_shape ?? first.config.batch_shape;
    if (!shape) throw new Error('Sequential model: the first layer declares no input shape');
    prev = 'input';
    out.push({ class_name: 'InputLayer', name: prev, config: { name: prev, batch_input_shape: shape }, inbound_nodes: [] });
  }
  for (const l of layers.slice(first.class_name === 'InputLayer' ? 1 : 0)) {
    const name = l.config.name;
    out.push({ ...l, name, inbound_nodes: [[[prev, 0, 0, {}]]] });
    prev = name;
  }
  return out;
}

/** Layer kind names shown to users for graph outputs. */
export function kerasLayerInfos(graph: KerasGraph, shapes: Map<string, number[]>): LayerInfo[] {
  return graph.outputNames().map(({ name, className, preSoftmaxOf }) => {
    const s = shapes.get(name) ?? [];
    return {
      name,
      kind: preSoftmaxOf ? `${className} (pre-softmax)` : className,
      outputShape: [null, ...s.slice(1)],
      channels: s.length ? s[s.length - 1] : 0,
    };
  });
}
