// Vision Transformers as people have them: a Hugging Face `transformers` folder (config.json + model.safetensors
// [+ preprocessor_config.json]) for ViT / DeiT, or a timm checkpoint (config.json with "architecture" +
// model.safetensors) for vit_* / deit_*. The network is rebuilt from the config and the tensor names (no code from
// the checkpoint runs), on the same one-op layer norm, GELU, batched attention and stored-kernel dense as the Keras
// ViT path, and its layers carry the names people know (`vit.encoder.layer.N` or `blocks.N`), plus the hidden
// states exactly as `transformers` returns them with output_hidden_states=True: `hidden_states.0` is the embeddings
// output and `hidden_states.i` the output of block i (1-based).
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { denseKernel, type DenseKernel, matMulStoredT } from '../layers/dense';
import { selfAttention } from '../layers/attention';
import { gelu } from '../../backend/actgrad';
import { layerNorm } from '../../backend/layernorm';
import { convolution } from '../layers/conv';
import { meanStdPreprocess } from '../preprocess';
import type { ImportedGraph, LayerInfo, Preprocess } from '../types';
import { SafetensorsFile } from './safetensors';
import type { ModelFolder } from '../folder';
import { checkInputSize } from '../limits';

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/** The architecture, from the config and checked against the tensors. */
export interface VitArch {
  layout: 'huggingface' | 'timm';
  /** `vit` or `deit` (HF model_type; timm: the architecture's family). */
  family: 'vit' | 'deit';
  imageSize: [number, number];
  patchSize: [number, number];
  channels: number;
  hidden: number;
  depth: number;
  heads: number;
  intermediate: number;
  eps: number;
  /** Tokens before the patches: 1 (CLS) or 2 (CLS, distillation). */
  prefixTokens: number;
}

/** Tensor names of one layout; `t(...)` gives the checkpoint name of a part. */
interface Layout {
  cls: string;
  dist: string;
  pos: string;
  patchW: string;
  patchB: string;
  block(i: number, part: 'ln1' | 'ln2' | 'q' | 'k' | 'v' | 'qkv' | 'proj' | 'fc1' | 'fc2', wb: 'weight' | 'bias'): string;
  norm: string;
  /** Display names. */
  names: { patches: string; embeddings: string | null; block(i: number): string; norm: string };
}

function hfLayout(prefix: string): Layout {
  const b = (i: number) => `${prefix}encoder.layer.${i}.`;
  const parts = {
    ln1: 'layernorm_before', ln2: 'layernorm_after', q: 'attention.attention.query', k: 'attention.attention.key',
    v: 'attention.attention.value', qkv: '', proj: 'attention.output.dense', fc1: 'intermediate.dense', fc2: 'output.dense',
  };
  return {
    cls: `${prefix}embeddings.cls_token`,
    dist: `${prefix}embeddings.distillation_token`,
    pos: `${prefix}embeddings.position_embeddings`,
    patchW: `${prefix}embeddings.patch_embeddings.projection.weight`,
    patchB: `${prefix}embeddings.patch_embeddings.projection.bias`,
    block: (i, part, wb) => `${b(i)}${parts[part]}.${wb}`,
    norm: `${prefix}layernorm`,
    names: { patches: `${prefix}embeddings.patch_embeddings`, embeddings: `${prefix}embeddings`, block: (i) => `${prefix}encoder.layer.${i}`, norm: `${prefix}layernorm` },
  };
}

const TIMM: Layout = (() => {
  const parts = { ln1: 'norm1', ln2: 'norm2', q: '', k: '', v: '', qkv: 'attn.qkv', proj: 'attn.proj', fc1: 'mlp.fc1', fc2: 'mlp.fc2' };
  return {
    cls: 'cls_token', dist: 'dist_token', pos: 'pos_embed', patchW: 'patch_embed.proj.weight', patchB: 'patch_embed.proj.bias',
    block: (i, part, wb) => `blocks.${i}.${parts[part]}.${wb}`,
    norm: 'norm',
    names: { patches: 'patch_embed', embeddings: null, block: (i) => `blocks.${i}`, norm: 'norm' },
  };
})();


const posInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

function sizePair(v: unknown, what: string, where: string): [number, number] {
  if (posInt(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every(posInt)) return [v[0], v[1]];
  throw new Error(`${where}: "${what}" must be a positive integer or [height, width], got ${JSON.stringify(v)}`);
}

/** Weight reading with shape checks; remembers what was used so that leftovers can be reported. */
class Weights {
  readonly used = new Set<string>();
  constructor(readonly st: SafetensorsFile) {}

  has(name: string): boolean { return this.st.has(name); }

  read(name: string, shape: number[]): Float32Array {
    const s = this.st.shape(name);
    if (!s) throw new Error(`${this.st.file}: missing tensor "${name}"`);
    if (s.length !== shape.length || s.some((d, i) => d !== shape[i])) {
      throw new Error(`${this.st.file}: tensor "${name}" has shape ${JSON.stringify(s)}, expected ${JSON.stringify(shape)} from the config`);
    }
    this.used.add(name);
    return this.st.readFloat32(name);
  }

  /** Names in the file that the network did not use, except `ignorable` ones. */
  leftovers(ignorable: (name: string) => boolean): string[] {
    return [...this.st.entries.keys()].filter((n) => !this.used.has(n) && !ignorable(n));
  }
}

/** Everything a built ViT owns, and its forward pass. */
interface Built {
  arch: VitArch;
  layers: LayerInfo[];
  logitsLayer: string | null;
  run(x: tf.Tensor4D, names: string[]): tf.Tensor[];
  dispose(): void;
}

/** A PyTorch Linear weight [out, in] (+ bias) as a stored-kernel dense layer. */
function linear(w: Weights, name: string, out: number, inp: number, keep: tf.Tensor[], bias = true): { k: DenseKernel; b?: tf.Tensor } {
  return linearFrom(w.read(`${name}.weight`, [out, inp]), out, inp, bias ? w.read(`${name}.bias`, [out]) : undefined, keep);
}

function linearFrom(weight: Float32Array, out: number, inp: number, bias: Float32Array | undefined, keep: tf.Tensor[]): { k: DenseKernel; b?: tf.Tensor } {
  const kernel = tf.tidy(() => tf.transpose(tf.tensor2d(weight, [out, inp]))) as tf.Tensor2D; // x @ W: [in, out]
  keep.push(kernel);
  const b = bias ? tf.tensor1d(bias) : undefined;
  if (b) keep.push(b);
  return { k: denseKernel(kernel, keep), b };
}

/** [B, T, D] -> dense over the last axis -> [B, T, out]. */
function dense3(x: tf.Tensor, l: { k: DenseKernel; b?: tf.Tensor }): tf.Tensor {
  const [b, t, d] = x.shape as [number, number, number];
  return tf.reshape(matMulStoredT(tf.reshape(x, [b * t, d]) as tf.Tensor2D, l.k, l.b), [b, t, l.k.w.shape[1]]);
}

/** Token `i` of [B, T, D] as [B, D]. */
function token(x: tf.Tensor, i: number): tf.Tensor2D {
  const [b, , d] = x.shape as [number, number, number];
  return tf.reshape(tf.slice(x, [0, i, 0], [-1, 1, -1]), [b, d]);
}

interface Head { name: string; kind: string; classes: number; apply(norm: tf.Tensor, heads: Map<string, tf.Tensor>): tf.Tensor }

/** Builds the network: embeddings, blocks, final norm, and the heads (classifiers or pooler) found in the file. */
function build(arch: VitArch, L: Layout, w: Weights, heads: (keep: tf.Tensor[]) => Head[], kinds: { embeddings?: string; block: string }): Built {
  const keep: tf.Tensor[] = [];
  try {
    const { hidden: D, channels: C, depth, intermediate: I, eps } = arch;
    const [ph, pw] = arch.patchSize;
    const [ih, iw] = arch.imageSize;
    if (ih % ph || iw % pw) throw new Error(`${w.st.file}: image size ${ih}x${iw} is not a multiple of the patch size ${ph}x${pw}`);
    if (D % arch.heads) throw new Error(`${w.st.file}: ${arch.heads} attention heads do not divide the hidden size ${D}`);
    const gh = ih / ph;
    const gw = iw / pw;
    const N = gh * gw;
    const T = N + arch.prefixTokens;
    const own = <X extends tf.Tensor>(t: X): X => { keep.push(t); return t; };

    // Patch embedding: the PyTorch conv weight [D, C, ph, pw] as a TF.js filter [ph, pw, C, D].
    const filter = own(tf.tidy(() => tf.transpose(tf.tensor4d(w.read(L.patchW, [D, C, ph, pw]), [D, C, ph, pw]), [2, 3, 1, 0]))) as tf.Tensor4D;
    const patchBias = own(tf.tensor1d(w.read(L.patchB, [D])));
    const conv = convolution({ kernel: filter, bias: patchBias, strides: [ph, pw], pad: 'valid', dilations: [1, 1], depthwise: false, activation: 'linear' }, keep, new Map());
    const cls = own(tf.tensor3d(w.read(L.cls, [1, 1, D]), [1, 1, D]));
    const dist = arch.prefixTokens === 2 ? own(tf.tensor3d(w.read(L.dist, [1, 1, D]), [1, 1, D])) : null;
    const pos = own(tf.tensor3d(w.read(L.pos, [1, T, D]), [1, T, D]));

    const blocks = Array.from({ length: depth }, (_, i) => {
      const ln = (part: 'ln1' | 'ln2') => [own(tf.tensor1d(w.read(L.block(i, part, 'weight'), [D]))), own(tf.tensor1d(w.read(L.block(i, part, 'bias'), [D])))];
      const qkvBias = arch.layout === 'timm' ? w.has(L.block(i, 'qkv', 'bias')) : w.has(L.block(i, 'q', 'bias'));
      let qkvW: Float32Array;
      let qkvB: Float32Array;
      if (arch.layout === 'timm') {
        qkvW = w.read(L.block(i, 'qkv', 'weight'), [3 * D, D]);
        qkvB = qkvBias ? w.read(L.block(i, 'qkv', 'bias'), [3 * D]) : new Float32Array(3 * D);
      } else {
        // Separate query/key/value Linear layers: their rows stacked are timm's fused q|k|v weight.
        qkvW = new Float32Array(3 * D * D);
        qkvB = new Float32Array(3 * D);
        (['q', 'k', 'v'] as const).forEach((p, j) => {
          qkvW.set(w.read(L.block(i, p, 'weight'), [D, D]), j * D * D);
          if (qkvBias) qkvB.set(w.read(L.block(i, p, 'bias'), [D]), j * D);
        });
      }
      const [g1, b1] = ln('ln1');
      const [g2, b2] = ln('ln2');
      const qkv = linearFrom(qkvW, 3 * D, D, qkvB, keep);
      const proj = linearFrom(w.read(L.block(i, 'proj', 'weight'), [D, D]), D, D, w.read(L.block(i, 'proj', 'bias'), [D]), keep);
      const fc1 = linearFrom(w.read(L.block(i, 'fc1', 'weight'), [I, D]), I, D, w.read(L.block(i, 'fc1', 'bias'), [I]), keep);
      const fc2 = linearFrom(w.read(L.block(i, 'fc2', 'weight'), [D, I]), D, I, w.read(L.block(i, 'fc2', 'bias'), [D]), keep);
      return (h: tf.Tensor): tf.Tensor => {
        const a = tf.add(h, selfAttention(layerNorm(h, eps, g1, b1), arch.heads, qkv.k, qkv.b!, proj.k, proj.b!));
        return tf.add(a, dense3(gelu(dense3(layerNorm(a, eps, g2, b2), fc1)), fc2));
      };
    });
    const normG = own(tf.tensor1d(w.read(`${L.norm}.weight`, [D])));
    const normB = own(tf.tensor1d(w.read(`${L.norm}.bias`, [D])));
    const headList = heads(keep);

    // The sequence of stages: patches, embeddings (hidden_states.0), blocks 1..depth, final norm; heads after it.
    const steps: ((h: tf.Tensor) => tf.Tensor)[] = [
      (x) => {
        const [b, h, wd, c] = x.shape;
        if (h !== ih || wd !== iw || c !== C) throw new Error(`${w.st.file}: the input is ${h}x${wd}x${c}, the model takes ${ih}x${iw}x${C}`);
        return tf.reshape(conv(x as tf.Tensor4D), [b, N, D]);
      },
      (p) => {
        const b = p.shape[0];
        const toks = [tf.tile(cls, [b, 1, 1]), ...(dist ? [tf.tile(dist, [b, 1, 1])] : []), p];
        return tf.add(tf.concat(toks, 1), pos);
      },
      ...blocks,
      (h) => layerNorm(h, eps, normG, normB),
    ];
    const NORM = steps.length - 1;
    const stageOf = new Map<string, number>();
    const layers: LayerInfo[] = [];
    const seq = (name: string, kind: string, stage: number) => {
      stageOf.set(name, stage);
      layers.push({ name, kind, outputShape: [null, stage === 0 ? N : T, D], channels: D });
    };
    seq(L.names.patches, 'patch embedding (conv, flattened)', 0);
    if (L.names.embeddings) seq(L.names.embeddings, kinds.embeddings ?? 'embeddings', 1);
    for (let i = 0; i < depth; i++) seq(L.names.block(i), kinds.block, 2 + i);
    seq(L.names.norm, 'LayerNorm', NORM);
    const headByName = new Map(headList.map((h) => [h.name, h]));
    for (const h of headList) layers.push({ name: h.name, kind: h.kind, outputShape: [null, h.classes], channels: h.classes });
    for (let i = 0; i <= depth; i++) {
      const of = i === 0 ? (L.names.embeddings ?? `${L.names.patches} + tokens + position embeddings`) : L.names.block(i - 1);
      seq(`hidden_states.${i}`, `hidden state (= ${of})`, 1 + i);
    }
    const logitsLayer = headList.find((h) => h.name === 'logits')?.name ?? headList.find((h) => h.kind === 'Linear')?.name ?? null;

    const run = (x: tf.Tensor4D, names: string[]): tf.Tensor[] => {
      const want = names.map((n) => {
        if (stageOf.has(n) || headByName.has(n)) return n;
        throw new Error(`unknown layer "${n}"`);
      });
      const wantedStages = new Set(want.filter((n) => stageOf.has(n)).map((n) => stageOf.get(n)!));
      const needHeads = want.some((n) => headByName.has(n));
      const last = needHeads ? NORM : Math.max(...wantedStages);
      const kept = new Map<number, tf.Tensor>();
      let cur: tf.Tensor = x;
      // Each stage in its own tidy; a stage's input is freed once the next is computed unless it is wanted (what the
      // gradient needs survives: TF.js keeps its own reference to what it saves for the backward pass).
      for (let s = 0; s <= last; s++) {
        const prev = cur;
        cur = tf.tidy(() => steps[s](prev));
        if (prev !== x && !wantedStages.has(s - 1)) prev.dispose();
        if (wantedStages.has(s)) kept.set(s, cur);
      }
      const headOut = new Map<string, tf.Tensor>();
      if (needHeads) {
        for (const h of headList) headOut.set(h.name, tf.tidy(() => h.apply(cur, headOut)));
        for (const [n, t] of headOut) if (!want.includes(n)) t.dispose();
        if (!wantedStages.has(NORM)) cur.dispose();
      }
      return want.map((n) => (stageOf.has(n) ? kept.get(stageOf.get(n)!)! : headOut.get(n)!));
    };
    return { arch, layers, logitsLayer, run, dispose: () => { keep.forEach((t) => t.dispose()); keep.length = 0; } };
  } catch (e) {
    keep.forEach((t) => t.dispose());
    throw e;
  }
}

/** A classifier on one token of the final norm. */
function classifierHead(w: Weights, name: string, tok: number, D: number, keep: tf.Tensor[]): Head {
  const s = w.st.shape(`${name}.weight`);
  if (!s || s.length !== 2) throw new Error(`${w.st.file}: tensor "${name}.weight" is missing or not 2-D`);
  const l = linear(w, name, s[0], D, keep);
  return { name, kind: 'Linear', classes: s[0], apply: (norm) => matMulStoredT(token(norm, tok), l.k, l.b) };
}

/** The mean of two heads (DeiT with a distillation head, at inference). */
function averageHead(a: Head, b: Head, what: string): Head {
  if (a.classes !== b.classes) throw new Error(`${what}: "${a.name}" has ${a.classes} classes, "${b.name}" ${b.classes}`);
  return { name: 'logits', kind: `mean of ${a.name} and ${b.name}`, classes: a.classes, apply: (_, h) => tf.div(tf.add(h.get(a.name)!, h.get(b.name)!), 2) };
}

/** What the importer hands back, beyond the graph. */
export interface HfVit extends ImportedGraph {
  arch: VitArch;
  classNames?: string[];
}

function finish(file: string, built: Built, w: Weights, ignorable: (n: string) => boolean, format: 'huggingface' | 'timm', preprocess: Preprocess, classNames: string[] | undefined): HfVit {
  const left = w.leftovers(ignorable);
  if (left.length) {
    built.dispose();
    throw new Error(`${file}: ${left.length} tensor(s) not understood by the ${format} ViT/DeiT importer (a variant it does not support?): ${left.slice(0, 8).join(', ')}${left.length > 8 ? ', ...' : ''}`);
  }
  const classes = built.layers.find((l) => l.name === built.logitsLayer)?.channels;
  return {
    format,
    arch: built.arch,
    defaultPreprocess: preprocess,
    inputShape: [null, built.arch.imageSize[0], built.arch.imageSize[1], built.arch.channels],
    layers: built.layers,
    logitsLayer: built.logitsLayer,
    classNames: classNames && classes === classNames.length ? classNames : undefined,
    run: built.run,
    dispose: built.dispose,
  };
}

function checkMeanStd(mean: unknown, std: unknown, channels: number, where: string): [number[], number[]] {
  const ok = (v: unknown): v is number[] => Array.isArray(v) && v.length === channels && v.every((n) => Number.isFinite(n));
  if (!ok(mean) || !ok(std) || std.some((s) => s <= 0)) {
    throw new Error(`${where}: mean ${JSON.stringify(mean)} and std ${JSON.stringify(std)} must be ${channels} numbers each (std > 0)`);
  }
  return [mean, std];
}

// ------------------------------------------------------------------------------------------- transformers
function hfPreprocess(folder: ModelFolder, family: 'vit' | 'deit', channels: number, imageSize: [number, number]): Preprocess {
  const file = path.join(folder.dir, 'preprocessor_config.json');
  const def = family === 'deit' ? [IMAGENET_MEAN, IMAGENET_STD] : [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]];
  const fill = (v: number[]) => (channels === 3 ? v : Array(channels).fill(v[0]));
  if (!folder.exists('preprocessor_config.json')) {
    const p = meanStdPreprocess(fill(def[0]), fill(def[1]));
    return { ...p, describe: `${p.describe} (the ${family === 'deit' ? 'DeiT' : 'ViT'} image processor's default: no preprocessor_config.json)` };
  }
  const j = folder.readJson('preprocessor_config.json', 'preprocessor config');
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`${file}: expected a JSON object (the image processor's settings), got ${JSON.stringify(j).slice(0, 40)}`);
  const size = j.size;
  const hw: [number, number] | null = posInt(size) ? [size, size] : size && posInt(size.height) && posInt(size.width) ? [size.height, size.width] : null;
  if (hw && (hw[0] !== imageSize[0] || hw[1] !== imageSize[1])) {
    throw new Error(`${file}: "size" ${hw[0]}x${hw[1]} differs from the model's image_size ${imageSize[0]}x${imageSize[1]} (position embeddings are not interpolated)`);
  }
  // The image processor maps pixels p in 0..255: p * rescale_factor (if do_rescale), then (v - mean) / std.
  const k = j.do_rescale === false ? 255 : 255 * (j.rescale_factor ?? 1 / 255);
  const [mean, std] = j.do_normalize === false
    ? [Array(channels).fill(0), Array(channels).fill(1)]
    : checkMeanStd(j.image_mean ?? fill(def[0]), j.image_std ?? fill(def[1]), channels, file);
  return {
    scale: std.map((s) => k / s),
    offset: mean.map((m, i) => -m / std[i]),
    describe: `(x${Math.abs(k - 1) > 1e-12 ? ` * ${k}` : ''} - mean) / std, mean ${JSON.stringify(mean)}, std ${JSON.stringify(std)} (preprocessor_config.json)`,
  };
}

/** A transformers ViT / DeiT checkpoint: `config` is config.json beside `file` (model.safetensors). */
export function importHfVit(file: string, config: any, configFile: string, folder: ModelFolder): HfVit {
  const where = configFile;
  const family = config.model_type;
  if (family !== 'vit' && family !== 'deit') throw new Error(`${where}: model_type ${JSON.stringify(family)} is not supported (vit or deit)`);
  if ((config.hidden_act ?? 'gelu') !== 'gelu') throw new Error(`${where}: hidden_act ${JSON.stringify(config.hidden_act)} is not supported (only "gelu", the exact GELU)`);
  const num = (key: string, def: number): number => {
    const v = config[key] ?? def;
    if (!posInt(v)) throw new Error(`${where}: "${key}" must be a positive integer, got ${JSON.stringify(v)}`);
    return v;
  };
  const eps = config.layer_norm_eps ?? 1e-12;
  if (!(typeof eps === 'number' && eps > 0)) throw new Error(`${where}: "layer_norm_eps" must be a positive number`);
  const st = SafetensorsFile.open(file, folder);
  try {
    const w = new Weights(st);
    const prefix = st.has(`${family}.embeddings.cls_token`) ? `${family}.` : st.has('embeddings.cls_token') ? '' : null;
    if (prefix === null) throw new Error(`${file}: no "${family}.embeddings.cls_token" or "embeddings.cls_token": not a ${family === 'vit' ? 'ViT' : 'DeiT'} checkpoint of transformers`);
    const L = hfLayout(prefix);
    const arch: VitArch = {
      layout: 'huggingface', family,
      imageSize: sizePair(config.image_size ?? 224, 'image_size', where),
      patchSize: sizePair(config.patch_size ?? 16, 'patch_size', where),
      channels: num('num_channels', 3),
      hidden: num('hidden_size', 768),
      depth: num('num_hidden_layers', 12),
      heads: num('num_attention_heads', 12),
      intermediate: num('intermediate_size', 3072),
      eps,
      prefixTokens: st.has(L.dist) ? 2 : 1,
    };
    checkInputSize([1, ...arch.imageSize, arch.channels], where);
    if (config.qkv_bias === false && st.has(L.block(0, 'q', 'bias'))) throw new Error(`${where}: qkv_bias is false but ${file} has "${L.block(0, 'q', 'bias')}"`);
    if (config.qkv_bias !== false && !st.has(L.block(0, 'q', 'bias'))) throw new Error(`${file}: missing tensor "${L.block(0, 'q', 'bias')}" (config qkv_bias is true)`);
    const D = arch.hidden;
    const Model = family === 'vit' ? 'ViT' : 'DeiT';
    const built = build(arch, L, w, (keep) => {
      if (st.has('cls_classifier.weight') || st.has('distillation_classifier.weight')) {
        const a = classifierHead(w, 'cls_classifier', 0, D, keep);
        const b = classifierHead(w, 'distillation_classifier', 1, D, keep);
        return [a, b, averageHead(a, b, file)];
      }
      if (st.has('classifier.weight')) return [classifierHead(w, 'classifier', 0, D, keep)];
      if (st.has(`${prefix}pooler.dense.weight`)) {
        const l = linear(w, `${prefix}pooler.dense`, D, D, keep);
        return [{ name: `${prefix}pooler`, kind: `${Model}Pooler (dense + tanh of token 0)`, classes: D, apply: (norm) => tf.tanh(matMulStoredT(token(norm, 0), l.k, l.b)) }];
      }
      return [];
    }, { embeddings: `${Model}Embeddings`, block: `${Model}Layer` });
    const id2label = config.id2label;
    let classNames: string[] | undefined;
    if (id2label && typeof id2label === 'object') {
      const n = Object.keys(id2label).length;
      const names = Array.from({ length: n }, (_, i) => id2label[String(i)]);
      if (names.every((s) => typeof s === 'string')) classNames = names;
    }
    // A masked-image-modeling mask token is not part of the classification forward pass.
    return finish(file, built, w, (n) => n === `${prefix}embeddings.mask_token`, 'huggingface', hfPreprocess(folder, family, arch.channels, arch.imageSize), classNames);
  } finally {
    st.close();
  }
}

// ------------------------------------------------------------------------------------------------- timm
/** Attention heads of timm's named sizes (every vit_* / deit_* of that size uses these). */
const TIMM_HEADS: Record<string, number> = { tiny: 3, small: 6, base: 12, large: 16, huge: 16, giant: 16, gigantic: 16 };

/** A timm vit_* / deit_* checkpoint: `config` is config.json (with "architecture") beside `file`. */
export function importTimmVit(file: string, config: any, configFile: string, folder: ModelFolder): HfVit {
  const archName: string = config.architecture;
  const m = /^(vit|deit|deit3)_([a-z]+)_(?:distilled_)?patch(\d+)_(\d+)/.exec(archName);
  if (!m) throw new Error(`${configFile}: architecture "${archName}" is not a timm ViT/DeiT (vit_<size>_patch<P>_<S>, deit_...)`);
  const family = m[1] === 'vit' ? 'vit' : 'deit';
  if ((config.global_pool ?? 'token') !== 'token') throw new Error(`${configFile}: global_pool "${config.global_pool}" is not supported (only "token", the class token)`);
  const args = config.model_args ?? {};
  const cfg = config.pretrained_cfg ?? {};
  const st = SafetensorsFile.open(file, folder);
  try {
    const w = new Weights(st);
    const pw = st.shape(TIMM.patchW);
    const cls = st.shape(TIMM.cls);
    if (!pw || pw.length !== 4 || !cls) throw new Error(`${file}: no "${TIMM.patchW}" or "${TIMM.cls}": not a timm ViT checkpoint`);
    const [D, C, ph, pwd] = pw;
    let depth = 0;
    while (st.has(TIMM.block(depth, 'ln1', 'weight'))) depth++;
    const fc1 = st.shape(TIMM.block(0, 'fc1', 'weight'));
    if (!depth || !fc1) throw new Error(`${file}: no "blocks.0.*" tensors: not a timm ViT checkpoint`);
    const heads = args.num_heads ?? TIMM_HEADS[m[2]];
    if (!posInt(heads)) throw new Error(`${configFile}: the number of attention heads of "${archName}" is unknown: add "model_args": {"num_heads": N}`);
    const prefixTokens = st.has(TIMM.dist) ? 2 : 1;
    const posLen = st.shape(TIMM.pos)?.[1] ?? 0;
    const inputSize = cfg.input_size;
    let imageSize: [number, number];
    if (args.img_size !== undefined) imageSize = sizePair(args.img_size, 'model_args.img_size', configFile);
    else if (Array.isArray(inputSize) && inputSize.length === 3) imageSize = sizePair(inputSize.slice(1), 'pretrained_cfg.input_size', configFile);
    else {
      const g = Math.round(Math.sqrt(posLen - prefixTokens));
      imageSize = [g * ph, g * pwd];
    }
    const eps = 1e-6; // timm's ViT LayerNorm
    const arch: VitArch = { layout: 'timm', family, imageSize, patchSize: [ph, pwd], channels: C, hidden: D, depth, heads, intermediate: fc1[0], eps, prefixTokens };
    checkInputSize([1, ...imageSize, C], configFile);
    const built = build(arch, TIMM, w, (keep) => {
      const head = st.has('head.weight') ? classifierHead(w, 'head', 0, D, keep) : null;
      if (prefixTokens === 2) {
        if (!head || !st.has('head_dist.weight')) throw new Error(`${file}: a distilled DeiT (dist_token) needs "head.weight" and "head_dist.weight"`);
        const dist = classifierHead(w, 'head_dist', 1, D, keep);
        return [head, dist, averageHead(head, dist, file)];
      }
      return head ? [head] : [];
    }, { block: 'Block' });
    const mean = cfg.mean ?? (family === 'deit' ? IMAGENET_MEAN : [0.5, 0.5, 0.5]);
    const std = cfg.std ?? (family === 'deit' ? IMAGENET_STD : [0.5, 0.5, 0.5]);
    const [mn, sd] = checkMeanStd(mean, std, C, `${configFile} pretrained_cfg`);
    const pre = meanStdPreprocess(mn, sd);
    const labels = Array.isArray(config.label_names) && config.label_names.every((s: unknown) => typeof s === 'string') ? config.label_names : undefined;
    return finish(file, built, w, () => false, 'timm', { ...pre, describe: `${pre.describe} (pretrained_cfg)` }, labels);
  } finally {
    st.close();
  }
}

/** A ViT checkpoint in safetensors: the config.json beside it says transformers (model_type) or timm (architecture). */
export function importSafetensorsVit(file: string, folder: ModelFolder): HfVit {
  const configFile = path.join(folder.dir, 'config.json');
  if (!folder.exists('config.json')) throw new Error(`${file}: no config.json beside it (a Hugging Face transformers or timm model folder has one)`);
  const config = folder.readJson('config.json', 'config');
  if (!config || typeof config !== 'object') throw new Error(`${configFile}: not a JSON object`);
  if (typeof config.architecture === 'string') return importTimmVit(file, config, configFile, folder);
  if (typeof config.model_type === 'string') return importHfVit(file, config, configFile, folder);
  throw new Error(`${configFile}: neither "model_type" (transformers) nor "architecture" (timm): not a model config`);
}
