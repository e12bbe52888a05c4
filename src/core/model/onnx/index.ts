/**
 * ONNX image models (as exported by PyTorch) as an {@link ImportedGraph}: the graph is interpreted node by node with
 * TF.js ops, so gradients flow to the input, except the node patterns of ./fuse.ts, which run as the shared layers
 * the Keras interpreter builds (../layers). Loading is data only: nothing in the file is executed.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's package entry registers no gradients; the importer's graphs must be differentiable.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import type { ImportedGraph, LayerInfo, Preprocess } from '../types';
import type { ModelFolder } from '../folder';
import { checkInputSize } from '../limits';
import type { FlippedFilters } from '../layers/conv';
import { Const, decodeTensor, makeConst } from './consts';
import { type FusedNode, findFusions } from './fuse';
import { Attrs, OPS, OpContext, TVal, Val, isConst, isSupported, logicalShape } from './ops';
import { AttributeProto, ModelProto, NodeProto, decodeModel, toNum } from './proto';
import { MAX_OPSET, MIN_OPSET } from './opset';
import { inWords } from '../../util/errno';

export const IMAGENET_PREPROCESS: Preprocess = {
  scale: [1 / 0.229, 1 / 0.224, 1 / 0.225],
  offset: [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225],
  describe: 'ImageNet mean/std (torchvision)',
};

interface PreparedNode {
  node: NodeProto;
  attrs: Attrs;
  what: string;
  index: number;
  /** Outputs the node has, up to its last named one (an empty name is an omitted optional output). */
  outCount: number;
}

/** One step of a run: a node, or a fused pattern in place of its nodes. */
type Step = { p: PreparedNode; fused?: FusedNode };

/** The PyTorch module path of a node from its scoped name, e.g. `/features/features.7/conv/conv.2/Conv`
 *  -> `features.7.conv.2`; `/layer2/layer2.1/relu_1/Relu` -> `layer2.1.relu_1`. Empty when unscoped. */
export function modulePath(nodeName: string): string[] {
  if (!nodeName.startsWith('/')) return [];
  const segs = nodeName.split('/').filter(Boolean).slice(0, -1);
  const parts: string[] = [];
  let prev = '';
  for (const s of segs) {
    parts.push(prev && s.startsWith(prev + '.') ? s.slice(prev.length + 1) : s);
    prev = s;
  }
  return parts;
}

/** Modules offered as layers: top-level ones, numbered children of top-level containers (`features.7`,
 *  `layer2.1`), and the blocks of a `layers`/`blocks` container (`encoder.layers.encoder_layer_2`). */
function isListedModule(parts: string[]): boolean {
  if (parts.length === 1) return true;
  if (parts.length === 2 && /^\d+$/.test(parts[1])) return true;
  return parts.length <= 3 && /^(layers|blocks)$/.test(parts[parts.length - 2]);
}

export class OnnxGraph {
  readonly nodes: PreparedNode[] = [];
  /** Initializers and everything folded from them at load time. */
  readonly statics = new Map<string, Const>();
  private readonly staticSet = new WeakSet<Const>();
  private readonly cache = new Map<Const, Map<string, tf.Tensor>>();
  private readonly derivedCache = new Map<Const, Map<string, Const>>();
  private readonly attrTensors = new WeakMap<AttributeProto, Const>();
  private readonly producers = new Map<string, number>();
  private readonly plans = new Map<string, { steps: Step[]; used: Set<string> }>();
  /** Tensors of the fused layers (weights, folded batch norms, flipped filters). */
  private readonly fusedTensors: tf.Tensor[] = [];
  private readonly flipped: FlippedFilters = new Map();
  /** The fused patterns, by output tensor. */
  readonly fusions = new Map<string, FusedNode>();
  readonly opset: number;
  readonly inputName: string;
  readonly inputDims: (number | string)[];
  readonly outputNames: string[];

  constructor(readonly file: string, model: ModelProto, private readonly folder: ModelFolder) {
    const g = model.graph;
    if (!g || g.node.length === 0) throw new Error(`${file}: not an ONNX model (no graph nodes)`);
    const def = model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx');
    const range = `the importer supports opsets ${MIN_OPSET} to ${MAX_OPSET}`;
    if (!def) throw new Error(`${file}: the model imports no opset of the default ONNX domain (ai.onnx), so its ops have no defined meaning; ${range}`);
    this.opset = toNum(def.version);
    if (!(this.opset >= MIN_OPSET && this.opset <= MAX_OPSET)) {
      throw new Error(`${file}: ONNX opset ${this.opset} is not supported: ${range} (export with torch.onnx.export(..., opset_version=${MAX_OPSET}))`);
    }
    for (const init of g.initializer) {
      if (this.statics.has(init.name)) throw new Error(`${file}: initializer "${init.name}" is listed twice; initializer names must be unique`);
      this.addStatic(init.name, decodeTensor(init, `${file}: initializer ${init.name}`, folder));
    }
    const inputs = g.input.filter((i) => !this.statics.has(i.name));
    if (inputs.length !== 1) {
      throw new Error(`${file}: expected one image input, found ${inputs.length} (${inputs.map((i) => i.name).join(', ')})`);
    }
    this.inputName = inputs[0].name;
    this.inputDims = (inputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : toNum(d.dimValue)));
    this.outputNames = g.output.map((o) => o.name);

    const unknown = new Set<string>();
    g.node.forEach((node, index) => {
      const domain = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:` : '';
      if (domain || !isSupported(node.opType)) unknown.add(domain + node.opType);
      let outCount = node.output.length;
      while (outCount > 0 && !node.output[outCount - 1]) outCount--;
      this.nodes.push({ node, attrs: new Attrs(node), what: `${path.basename(file)}: node ${node.name || index} (${node.opType})`, index, outCount });
      for (const o of node.output) if (o) this.producers.set(o, index);
    });
    if (unknown.size > 0) {
      throw new Error(`${file}: unsupported ONNX op(s): ${[...unknown].sort().join(', ')}`);
    }
    this.foldConstants();
    try {
      const found = atNode(`${path.basename(file)}: fusing layers`, () => findFusions({ nodes: this.nodes, statics: this.statics, outputs: this.outputNames, keep: this.fusedTensors, flipped: this.flipped, opset: this.opset }));
      for (const f of found) this.fusions.set(f.output, f);
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private addStatic(name: string, c: Const): void {
    this.statics.set(name, c);
    this.staticSet.add(c);
  }

  /** `used`: the tensors a run needs (optional outputs outside it are not computed); all when absent. */
  private context(p: PreparedNode, used?: Set<string>): OpContext {
    return {
      opset: this.opset,
      what: p.what,
      wants: (i) => !!p.node.output[i] && (!used || used.has(p.node.output[i])),
      tensorOf: (c, key = '', make) => this.tensorOf(c, key, make),
      derived: (c, key, make) => this.derived(c, key, make),
      decodeAttrTensor: (a) => {
        // Once per attribute: a tensor in external data is read (and its bytes claimed) once, not at every run.
        let c = this.attrTensors.get(a);
        if (!c) this.attrTensors.set(a, (c = decodeTensor(a.t!, `${p.what}: attribute ${a.name}`, this.folder)));
        return c;
      },
    };
  }

  /** Evaluates, once, every node whose inputs are all initializers or constants. */
  private foldConstants(): void {
    for (const p of this.nodes) {
      const ins = p.node.input.map((n) => (n ? this.statics.get(n) : undefined));
      if (p.node.input.some((n, i) => n && !ins[i])) continue;
      const jsOp = OPS.js[p.node.opType];
      let outs: Const[];
      if (jsOp) {
        outs = atNode(p.what, () => jsOp(ins, p.attrs, this.context(p), p.outCount));
      } else if (OPS.tf[p.node.opType]) {
        const op = OPS.tf[p.node.opType];
        let res: Const[] = [];
        atNode(p.what, () => tf.tidy(() => {
          res = op(ins, p.attrs, this.context(p), p.outCount).map((v) => this.readBack(v));
        }));
        outs = res;
      } else {
        continue;
      }
      p.node.output.forEach((o, i) => o && this.addStatic(o, outs[i]));
    }
  }

  private readBack(v: Val): Const {
    if (isConst(v)) return v;
    const t = v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
    const type = t.dtype === 'float32' ? 'float' : t.dtype === 'bool' ? 'bool' : 'int';
    const c = makeConst(type, t.shape, t.dataSync() as Float32Array);
    tf.dispose([t, v.t]);
    return c;
  }

  private derived(c: Const, key: string, make: (c: Const) => Const): Const {
    if (!this.staticSet.has(c)) return make(c);
    let m = this.derivedCache.get(c);
    if (!m) this.derivedCache.set(c, (m = new Map()));
    let d = m.get(key);
    if (!d) {
      m.set(key, (d = make(c)));
      this.staticSet.add(d);
    }
    return d;
  }

  private tensorOf(c: Const, key: string, make?: (c: Const) => Const): tf.Tensor {
    const build = () => {
      const src = make ? make(c) : c;
      const dtype = src.type === 'float' ? 'float32' : src.type === 'int' ? 'int32' : 'bool';
      return tf.tensor(src.type === 'float' ? src.data : Int32Array.from(src.data), src.shape, dtype);
    };
    if (!this.staticSet.has(c)) return build();
    let m = this.cache.get(c);
    if (!m) this.cache.set(c, (m = new Map()));
    let t = m.get(key);
    if (!t) m.set(key, (t = tf.keep(build())));
    return t;
  }

  /**
   * The steps computing `targets`, in graph order. With `fuse`, each fused pattern none of whose inner tensors is a
   * target runs as one step in place of its nodes. `used`: the targets and every step's inputs.
   */
  private plan(targets: string[], fuse: boolean): { steps: Step[]; used: Set<string> } {
    const key = `${fuse}\u0000${targets.join('\u0000')}`;
    let p = this.plans.get(key);
    if (p) return p;
    const wanted = new Set(targets);
    const need = new Map<number, Step>();
    const stack = targets.filter((t) => !this.statics.has(t));
    while (stack.length > 0) {
      const name = stack.pop()!;
      const f = fuse ? this.fusions.get(name) : undefined;
      if (f && !f.inner.some((t) => wanted.has(t))) {
        if (need.has(f.index)) continue;
        need.set(f.index, { p: this.nodes[f.index], fused: f });
        for (const i of f.inputs) if (!this.statics.has(i)) stack.push(i);
        continue;
      }
      const idx = this.producers.get(name);
      if (idx === undefined || need.has(idx)) continue;
      need.set(idx, { p: this.nodes[idx] });
      for (const i of this.nodes[idx].node.input) if (i && !this.statics.has(i)) stack.push(i);
    }
    const steps = [...need.values()].sort((a, b) => a.p.index - b.p.index);
    const used = new Set(targets);
    for (const s of steps) for (const i of s.fused ? s.fused.inputs : s.p.node.input) used.add(i);
    p = { steps, used };
    this.plans.set(key, p);
    return p;
  }

  /**
   * Nodes that carry the exported `batch` in a constant shape: a Reshape of a computed tensor, an Expand or Tile,
   * or a ConstantOfShape, whose shape (or repeats) is a load-time constant starting with it. `torch.onnx.export`
   * without a dynamic batch axis writes such constants (a ViT's `[1, 768, 196]` patch reshape, the class token's
   * `Expand` to `[1, 1, 768]`); at any other batch they are wrong.
   */
  batchCarriers(batch: number): string[] {
    const found: string[] = [];
    for (const p of this.nodes) {
      const op = p.node.opType;
      const [data, shape] = op === 'ConstantOfShape' ? [undefined, p.node.input[0]] : [p.node.input[0], p.node.input[1]];
      if (!['Reshape', 'Expand', 'Tile', 'ConstantOfShape'].includes(op) || !shape) continue;
      // a Reshape of a weight is not about the batch; an Expand or Tile of one (a class token) is
      if (op === 'Reshape' && this.statics.has(data!)) continue;
      const c = this.statics.get(shape);
      if (c && c.data.length > 0 && c.data[0] === batch) found.push(p.what);
    }
    return found;
  }

  has(tensorName: string): boolean {
    return this.producers.has(tensorName) || tensorName === this.inputName;
  }

  /**
   * Runs the nodes needed for `targets` on `x` (NHWC when 4-D, else in the ONNX layout), with the fused patterns
   * unless `onValue` is given: it sees every computed tensor (for shape discovery). Returns each target's value.
   * Call inside a tidy.
   */
  run(x: tf.Tensor, targets: string[], onValue?: (name: string, v: Val, node: PreparedNode) => void): Val[] {
    const env = new Map<string, Val>();
    env.set(this.inputName, { t: x, nhwc: x.rank === 4 });
    const { steps, used } = this.plan(targets, !onValue);
    for (const { p, fused } of steps) {
      if (fused) {
        const ins = fused.inputs.map((n) => {
          const v = env.get(n) ?? this.statics.get(n);
          if (!v) throw new Error(`${p.what}: input ${n} is not available`);
          return v;
        });
        const what = `${p.what} (fused ${fused.kind})`;
        env.set(fused.output, atNode(what, () => fused.run(ins, { ...this.context(p), what })));
        continue;
      }
      const ins = p.node.input.map((n) => {
        if (!n) return undefined;
        const v = env.get(n) ?? this.statics.get(n);
        if (!v) throw new Error(`${p.what}: input ${n} is not available`);
        return v;
      });
      const ctx = this.context(p, onValue ? undefined : used);
      const op = p.node.opType;
      const present = ins.filter((v): v is Val => !!v);
      const outs: Val[] = atNode(p.what, () => {
        if (OPS.shape[op]) return OPS.shape[op](ins, p.attrs, ctx);
        if (present.every(isConst) && OPS.js[op]) return OPS.js[op](ins, p.attrs, ctx, p.outCount);
        if (OPS.tf[op]) return OPS.tf[op](ins, p.attrs, ctx, p.outCount);
        throw new Error(`${p.what}: ${op} is supported on constants only, here its input is computed at run time`);
      });
      p.node.output.forEach((o, i) => {
        if (!ctx.wants(i)) return;
        if (!outs[i]) throw new Error(`${p.what}: produced no output ${i}`);
        env.set(o, outs[i]);
        onValue?.(o, outs[i], p);
      });
    }
    return targets.map((t) => {
      const v = env.get(t) ?? this.statics.get(t);
      if (!v) throw new Error(`${this.file}: tensor ${t} was not computed`);
      return v;
    });
  }

  /** Frees the constants' tensors made so far (they are made again when a step needs them). */
  dropTensorCache(): void {
    for (const m of this.cache.values()) for (const t of m.values()) t.dispose();
    this.cache.clear();
  }

  dispose(): void {
    this.dropTensorCache();
    for (const t of this.fusedTensors) t.dispose();
    this.fusedTensors.length = 0;
    this.flipped.clear();
  }
}

/** A value as the channels-last tensor the user sees. */
function channelsLast(v: Val, what: string): tf.Tensor {
  if (isConst(v)) throw new Error(`${what} is a constant, not an activation`);
  const tv = v as TVal;
  if (tv.nhwc) return tv.t;
  return tv.t.rank === 4 ? tf.transpose(tv.t, [0, 2, 3, 1]) : tv.t;
}

/**
 * Runs one node's op. TF.js's own errors (`Error in conv2D: Strides should be larger than 0.`, `Invalid typed array
 * length: ...`) name neither the file nor the node: `what` (file and node) is put in front, and sizes said in words.
 */
function atNode<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if ((e as Error)?.message?.startsWith(what.split(':')[0])) throw e;
    throw new Error(`${what}: ${inWords(e)}`);
  }
}

/**
 * Loads an ONNX image model (NCHW input, fixed C/H/W, any batch). `layers` lists the outputs of the PyTorch
 * modules found in the exporter's node-name scopes: top-level modules (`layer2`, `features`, `conv_proj`),
 * numbered children of top-level containers (`features.7`, `layer2.1`, kept when a different tensor than their
 * parent's), and blocks of a `layers`/`blocks` container (`encoder.layers.encoder_layer_2`, alias
 * `encoder.layers.2`), then the logits (graph output, or the input of a final Softmax). `tap` also accepts any
 * module name above and any node output tensor name. Default preprocess: torchvision's ImageNet mean/std.
 */
export async function importOnnxFile(file: string, folder: ModelFolder): Promise<ImportedGraph> {
  const abs = path.resolve(file);
  const bytes = folder.readAll(path.basename(abs), 'ONNX model file');
  let proto: ModelProto;
  try {
    proto = decodeModel(bytes);
  } catch (e) {
    throw new Error(`${abs}: not a valid ONNX model, the file is truncated or corrupt (${(e as Error).message})`);
  }
  const graph = new OnnxGraph(abs, proto, folder);
  try {
    return buildModel(abs, graph);
  } catch (e) {
    graph.dispose();
    throw e;
  }
}

function buildModel(abs: string, graph: OnnxGraph): ImportedGraph {
  const dims = graph.inputDims;
  // The batch the graph was exported at, when fixed; the load-time run uses it (constants may hold it).
  const exported = typeof dims[0] === 'number' && dims[0] > 1 ? dims[0] : 1;
  const reexport = `export with batch 1 or a dynamic batch axis (torch.onnx.export(..., dynamic_axes={'${graph.inputName}': {0: 'batch'}}))`;
  // Exported at batch 1 with the batch in constant shapes: larger batches run one image at a time. Exported at a
  // larger batch: refused where constant shapes hold it.
  const carriers = dims[0] === 1 || exported > 1 ? graph.batchCarriers(exported) : [];
  if (exported > 1 && carriers.length) {
    throw new Error(`${abs}: input ${graph.inputName} is exported at a fixed batch of ${exported}, which constant shapes hold (e.g. ${carriers[0]}); ${reexport}`);
  }
  const [c, h, w] = [dims[1], dims[2], dims[3]];
  if (dims.length !== 4 || typeof c !== 'number' || typeof h !== 'number' || typeof w !== 'number' || !(c > 0 && h > 0 && w > 0)) {
    throw new Error(`${abs}: input ${graph.inputName} must be NCHW with fixed C, H, W; declared [${dims}]`);
  }
  checkInputSize([1, h, w, c], abs);

  // Logits: the graph output called "logits", else the first rank-2 output; the input of a final Softmax.
  // Dry run at the exported batch over the whole graph to learn every tensor's shape.
  const shapes = new Map<string, number[]>();
  const producedBy = new Map<string, NodeProto>();
  const order: string[] = [];
  tf.tidy(() => {
    const x = tf.zeros([exported, h, w, c]) as tf.Tensor4D;
    graph.run(x, graph.outputNames, (name, v, p) => {
      if (isConst(v) || v.t.dtype !== 'float32') return;
      shapes.set(name, channelsLast(v, name).shape);
      producedBy.set(name, p.node);
      // a node's optional outputs (statistics, indices) are no module's output
      if (name === p.node.output[0]) order.push(name);
    });
  });
  if (exported > 1) {
    // any batch must run, and give outputs of that batch: the batch may hide in ops that no constant shape shows
    // (a Gather of image 1, an Add of a constant of the batch's size)
    let problem = '';
    try {
      tf.tidy(() => {
        const outs = graph.run(tf.zeros([1, h, w, c]), graph.outputNames);
        const i = outs.findIndex((v) => !isConst(v) && logicalShape(v)[0] !== 1);
        if (i >= 0) problem = `output ${graph.outputNames[i]} has shape [${logicalShape(outs[i])}]`;
      });
    } catch (e) {
      problem = (e as Error).message;
    }
    if (problem) throw new Error(`${abs}: input ${graph.inputName} is exported at a fixed batch of ${exported} and does not run at batch 1 (${problem}); ${reexport}`);
  }
  graph.dropTensorCache(); // the unfused ops' weights: the fused layers hold their own
  let logits: string | null = graph.outputNames.find((n) => /logit/i.test(n))
    ?? graph.outputNames.find((n) => shapes.get(n)?.length === 2) ?? null;
  if (logits && producedBy.get(logits)?.opType === 'Softmax') logits = producedBy.get(logits)!.input[0];
  if (logits && !shapes.has(logits)) logits = null;

  // Module outputs: the last float node output inside each listed module's name scope.
  const moduleTensor = new Map<string, string>();
  for (const name of order) {
    const parts = modulePath(producedBy.get(name)!.name);
    for (let d = 1; d <= parts.length; d++) {
      if (isListedModule(parts.slice(0, d))) moduleTensor.set(parts.slice(0, d).join('.'), name);
    }
  }
  const aliases = new Map<string, string>(moduleTensor);
  // `encoder.layers.2` for torchvision's `encoder.layers.encoder_layer_2` (an OrderedDict key)
  for (const [mod, t] of moduleTensor) {
    const short = mod.replace(/\.(layers|blocks)\.[A-Za-z_]*?_(\d+)$/, '.$1.$2');
    if (short !== mod && !aliases.has(short)) aliases.set(short, t);
  }
  const byTensor = new Map<string, string>();
  for (const [mod, t] of moduleTensor) {
    const prev = byTensor.get(t);
    // one layer per tensor: the shallower module name wins (`layer2` over `layer2.1`)
    if (!prev || mod.split('.').length < prev.split('.').length) byTensor.set(t, mod);
  }
  const layers: LayerInfo[] = [];
  const tensorOf = new Map<string, string>();
  const addLayer = (name: string, tensor: string, isLogits: boolean) => {
    const shape = shapes.get(tensor)!;
    layers.push({
      name, kind: producedBy.get(tensor)!.opType, outputShape: [null, ...shape.slice(1)],
      channels: shape[shape.length - 1], ...(isLogits ? { isLogits: true } : {}),
    });
    tensorOf.set(name, tensor);
  };
  const ordered = [...byTensor.entries()].sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
  for (const [t, mod] of ordered) if (t !== logits) addLayer(mod, t, false);
  if (logits) {
    if ((aliases.has(logits) && aliases.get(logits) !== logits) || layers.some((l) => l.name === logits)) throw new Error(`${abs}: logits tensor name ${logits} clashes with a module name`);
    addLayer(logits, logits, true);
  }

  const resolve = (name: string): string => {
    const t = tensorOf.get(name) ?? aliases.get(name) ?? name;
    if (!graph.has(t)) {
      throw new Error(`${path.basename(abs)}: no layer or tensor named "${name}" (layers: ${layers.map((l) => l.name).join(', ')})`);
    }
    return t;
  };

  let disposed = false;
  return {
    format: 'onnx',
    defaultPreprocess: IMAGENET_PREPROCESS,
    inputShape: [carriers.length ? 1 : null, h, w, c],
    ...(carriers.length ? { batchNote: `exported at batch 1 (${carriers.length} constant shape(s) carry it, e.g. ${carriers[0]}): a batch runs one image at a time` } : {}),
    layers,
    logitsLayer: logits,
    run(x: tf.Tensor4D, names: string[]): tf.Tensor[] {
      if (disposed) throw new Error(`${abs}: model was disposed`);
      if (x.rank !== 4 || x.shape[1] !== h || x.shape[2] !== w || x.shape[3] !== c) {
        throw new Error(`${path.basename(abs)}: input must be [batch, ${h}, ${w}, ${c}], got [${x.shape}]`);
      }
      const targets = names.map(resolve);
      const once = (xi: tf.Tensor4D) => graph.run(xi, targets).map((v, i) => channelsLast(v, names[i]));
      if (!carriers.length || x.shape[0] === 1) return tf.tidy(() => once(x));
      return tf.tidy(() => {
        const per = tf.split(x, x.shape[0], 0).map((xi) => once(xi as tf.Tensor4D));
        return targets.map((_, i) => tf.concat(per.map((outs) => outs[i]), 0));
      });
    },
    dispose(): void {
      disposed = true;
      graph.dispose();
    },
  };
}
