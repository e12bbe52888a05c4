/**
 * Node patterns that run as one shared layer (../layers/*) instead of op by op, so that an ONNX model gets the
 * Keras interpreter's fused kernels and input-only gradients:
 * - Conv [-> BatchNormalization] [-> Relu | Clip(0, 6) | Clip(0, inf)]: one fused convolution (../layers/conv.ts),
 *   the batch norm folded into its kernel and bias, the activation inside it;
 * - BatchNormalization (no Conv before it) [-> Relu | Clip(0, 6) | Clip(0, inf)]: one channel-affine op with the
 *   activation (../../backend/affine.ts), as KerasGraph runs an unfolded batch norm;
 * - Gemm (constant B, with or without C) and MatMul (constant 2-D B) [-> Add (constant bias)]: x @ W + b as one
 *   matmul with a stored W^T for the input gradient (../layers/dense.ts);
 * - GELU as PyTorch exports it, `Div(x, sqrt 2) -> Erf -> Add 1 -> Mul x -> Mul 0.5` (any operand order, or
 *   `Mul(x, 0.5)` first): one GELU op (../../backend/actgrad.ts);
 * - layer normalization over the last axis as opsets before 17 export it, `ReduceMean -> Sub -> Pow 2 -> ReduceMean
 *   -> Add eps -> Sqrt -> Div -> Mul gamma -> Add beta`: one layer-norm op (../../backend/layernorm.ts; the
 *   LayerNormalization op of opset 17 runs it too, in ./ops.ts).
 * A pattern's inner tensors feed only the pattern's nodes and are no graph output. The interpreter runs a fused
 * node only when no inner tensor is asked for (a tap of one runs that chain op by op), like KerasGraph's chains.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gelu } from '../../backend/actgrad';
import { channelAffine } from '../../backend/affine';
import { layerNorm } from '../../backend/layernorm';
import { convolution, type ConvActivation, type FlippedFilters } from '../layers/conv';
import { denseKernel, denseLastAxis, matMulStoredT, type DenseKernel } from '../layers/dense';
import { Const, jsTranspose, scalarOf } from './consts';
import { Attrs, OpContext, TVal, Val, isConst, logical, toNHWC } from './ops';
import { NodeProto } from './proto';

export interface GraphNode {
  node: NodeProto;
  attrs: Attrs;
  what: string;
  index: number;
}

/** A pattern run as one layer: it computes `output` from `inputs`, in place of the nodes `absorbed` (its last one included). */
export interface FusedNode {
  kind: string;
  /** Index of the pattern's last node (where it runs in graph order). */
  index: number;
  absorbed: number[];
  inputs: string[];
  output: string;
  /** Tensors the pattern does not compute (each node's output but the last). */
  inner: string[];
  run(ins: Val[], ctx: OpContext): Val;
}

interface Graph {
  nodes: readonly GraphNode[];
  statics: Map<string, Const>;
  outputs: readonly string[];
  /** Tensors the fused layers create; freed with the graph. */
  keep: tf.Tensor[];
  flipped: FlippedFilters;
  opset: number;
}

const near = (v: number, want: number) => Math.abs(v - want) <= 1e-6 * Math.max(1, Math.abs(want));

/** Finds every pattern, each node in at most one. */
export function findFusions(g: Graph): FusedNode[] {
  const consumers = new Map<string, GraphNode[]>();
  for (const n of g.nodes) for (const i of n.node.input) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const used = new Set<number>();
  const graphOut = new Set(g.outputs);
  /** The only consumer of `t`, when `t` is no graph output and that consumer is not already in a pattern. */
  const sole = (t: string): GraphNode | undefined => {
    const c = consumers.get(t) ?? [];
    return c.length === 1 && !graphOut.has(t) && !used.has(c[0].index) ? c[0] : undefined;
  };
  const constIn = (n: GraphNode, i: number): Const | undefined => (n.node.input[i] ? g.statics.get(n.node.input[i]) : undefined);
  /** The other input of a binary node when one input is `t`. */
  const other = (n: GraphNode, t: string): string | undefined =>
    n.node.input.length === 2 ? (n.node.input[0] === t ? n.node.input[1] : n.node.input[1] === t ? n.node.input[0] : undefined) : undefined;
  const scalarConst = (name: string | undefined, want: number): boolean => {
    const c = name ? g.statics.get(name) : undefined;
    return !!c && c.type === 'float' && c.data.length === 1 && near(c.data[0], want);
  };
  /** A batch norm in inference mode (running statistics): one output, no training_mode. */
  const inferenceBN = (n: GraphNode): boolean => n.node.output.filter(Boolean).length === 1 && n.attrs.int('training_mode', 0) === 0;
  const own = <T extends tf.Tensor>(t: T): T => { g.keep.push(t); return t; };
  const out: FusedNode[] = [];
  const claim = (f: FusedNode | null): void => {
    if (!f) return;
    out.push(f);
    for (const i of f.absorbed) used.add(i);
  };
  const pattern = (chain: GraphNode[], inputs: string[], kind: string, run: FusedNode['run']): FusedNode => ({
    kind, index: chain[chain.length - 1].index, absorbed: chain.map((n) => n.index), inputs,
    output: chain[chain.length - 1].node.output[0], inner: chain.slice(0, -1).map((n) => n.node.output[0]), run,
  });

  for (const n of g.nodes) {
    if (used.has(n.index) || g.statics.has(n.node.output[0])) continue;
    const op = n.node.opType;
    if (op === 'Conv') claim(convChain(n));
    else if (op === 'Gemm' || op === 'MatMul') claim(denseChain(n));
    else if (op === 'Div' || op === 'Mul') claim(geluChain(n));
    else if (op === 'ReduceMean') claim(layerNormChain(n));
    else if (op === 'BatchNormalization') claim(affineChain(n));
  }
  return out;

  /** 'relu' / 'relu6' when the node is that activation of its one computed input. */
  function fusableActivation(n: GraphNode): ConvActivation | null {
    if (n.node.opType === 'Relu') return 'relu';
    if (n.node.opType !== 'Clip') return null;
    let lo = -Infinity; let hi = Infinity;
    if (g.opset < 11) {
      lo = n.attrs.float('min', -Infinity); hi = n.attrs.float('max', Infinity);
    } else {
      const [mn, mx] = [1, 2].map((i) => (n.node.input[i] ? constIn(n, i) : null));
      if (mn === undefined || mx === undefined) return null; // computed at run time
      if (mn) lo = scalarOf(mn);
      if (mx) hi = scalarOf(mx);
    }
    return lo === 0 && hi === 6 ? 'relu6' : lo === 0 && hi === Infinity ? 'relu' : null;
  }

  function convChain(conv: GraphNode): FusedNode | null {
    const w = constIn(conv, 1);
    const b = conv.node.input[2] ? constIn(conv, 2) : null;
    if (!w || w.shape.length !== 4 || b === undefined) return null;
    const at = conv.attrs;
    const [m, cg, kh, kw] = w.shape;
    const group = at.int('group', 1);
    const depthwise = group > 1 && cg === 1;
    if ((group > 1 && !depthwise) || (at.ints('dilations') ?? [1, 1]).some((d) => d !== 1)) return null;
    const auto = at.str('auto_pad', 'NOTSET');
    if (auto !== 'NOTSET' && auto !== 'VALID') return null;
    const p = auto === 'VALID' ? [0, 0, 0, 0] : (at.ints('pads') ?? [0, 0, 0, 0]);
    if (p.length !== 4) return null;
    const chain = [conv];
    let bn: Const[] | null = null;
    let eps = 0;
    let next = sole(conv.node.output[0]);
    if (next?.node.opType === 'BatchNormalization' && inferenceBN(next)) {
      const ps = [1, 2, 3, 4].map((i) => constIn(next!, i));
      if (ps.every((c): c is Const => !!c && c.data.length === m)) {
        bn = ps as Const[];
        eps = next.attrs.float('epsilon', 1e-5);
        chain.push(next);
        next = sole(next.node.output[0]);
      }
    }
    const act = next ? fusableActivation(next) : null;
    if (next && act) chain.push(next);
    // Kernel: HWIO for a conv; [kh, kw, C, mult] for a depthwise conv. Both have the output channel o = index % m.
    const kernel = depthwise ? jsTranspose({ ...w, shape: [group, m / group, kh, kw] }, [2, 3, 0, 1]) : jsTranspose(w, [2, 3, 1, 0]);
    const kd = Float32Array.from(kernel.data);
    const bias = new Float32Array(m);
    if (b) bias.set(b.data);
    if (bn) {
      const [scale, beta, mean, variance] = bn;
      const a = Array.from({ length: m }, (_, o) => scale.data[o] / Math.sqrt(variance.data[o] + eps));
      for (let i = 0; i < kd.length; i++) kd[i] *= a[i % m];
      for (let o = 0; o < m; o++) bias[o] = (bias[o] - mean.data[o]) * a[o] + beta.data[o];
    }
    const apply = convolution({
      kernel: own(tf.tensor4d(kd, kernel.shape as [number, number, number, number])),
      bias: b || bn ? own(tf.tensor1d(bias)) : undefined,
      strides: (at.ints('strides') ?? [1, 1]) as [number, number],
      pad: p.every((v) => v === 0) ? 'valid' : [[0, 0], [p[0], p[2]], [p[1], p[3]], [0, 0]],
      dilations: [1, 1],
      depthwise,
      activation: act ?? 'linear',
    }, g.keep, g.flipped);
    const kind = ['Conv', bn ? 'BatchNormalization' : '', act ? chain[chain.length - 1].node.opType : ''].filter(Boolean).join('+');
    return pattern(chain, [conv.node.input[0]], kind, ([x], ctx) => {
      const xt = toNHWC(x, ctx);
      if (xt.shape[3] !== w.shape[1] * group) throw new Error(`${ctx.what}: weight [${w.shape}] with group ${group} does not fit ${xt.shape[3]} channels`);
      return { t: apply(xt), nhwc: true };
    });
  }

  function affineChain(bn: GraphNode): FusedNode | null {
    if (!inferenceBN(bn) || constIn(bn, 0)) return null;
    const ps = [1, 2, 3, 4].map((i) => constIn(bn, i));
    const c = ps[0]?.data.length ?? 0;
    if (!ps.every((p): p is Const => !!p && p.data.length === c)) return null;
    const [scale, beta, mean, variance] = ps as Const[];
    const eps = bn.attrs.float('epsilon', 1e-5);
    const a = Float32Array.from({ length: c }, (_, i) => scale.data[i] / Math.sqrt(variance.data[i] + eps));
    const at = own(tf.tensor1d(a));
    const bt = own(tf.tensor1d(Float32Array.from({ length: c }, (_, i) => beta.data[i] - mean.data[i] * a[i])));
    const next = sole(bn.node.output[0]);
    const act = next ? fusableActivation(next) : null;
    const chain = next && act ? [bn, next] : [bn];
    return pattern(chain, [bn.node.input[0]], chain.map((n) => n.node.opType).join('+'), ([x], ctx) => {
      const rank = isConst(x) ? x.shape.length : (x as TVal).t.rank;
      if (rank === 4) return { t: channelAffine(toNHWC(x, ctx), at, bt, act ?? 'linear'), nhwc: true };
      if (rank === 2) return { t: channelAffine(logical(x, ctx), at, bt, act ?? 'linear'), nhwc: false };
      // [N, C, L...]: channels-last for the one op, and back
      const perm = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2), 1];
      const back = [0, rank - 1, ...Array.from({ length: rank - 2 }, (_, i) => i + 1)];
      return { t: tf.transpose(channelAffine(tf.transpose(logical(x, ctx), perm), at, bt, act ?? 'linear'), back), nhwc: false };
    });
  }

  function denseChain(mm: GraphNode): FusedNode | null {
    const at = mm.attrs;
    const w = constIn(mm, 1);
    if (!w || w.shape.length !== 2 || constIn(mm, 0)) return null;
    let wKN = w;
    let bias: Const | null = null;
    if (mm.node.opType === 'Gemm') {
      if (at.int('transA', 0) !== 0 || at.float('alpha', 1) !== 1) return null;
      if (at.int('transB', 0) === 1) wKN = jsTranspose(w, [1, 0]);
      if (mm.node.input[2]) {
        const c = constIn(mm, 2);
        if (!c || at.float('beta', 1) !== 1 || c.data.length !== wKN.shape[1]) return null;
        bias = c;
      }
    }
    const n = wKN.shape[1];
    const chain = [mm];
    const add = bias ? undefined : sole(mm.node.output[0]);
    if (add?.node.opType === 'Add') {
      const c = g.statics.get(other(add, mm.node.output[0]) ?? '');
      if (c && c.type === 'float' && c.data.length === n && c.shape[c.shape.length - 1] === n) {
        bias = c;
        chain.push(add);
      }
    }
    const kernel: DenseKernel = denseKernel(own(tf.tensor2d(Float32Array.from(wKN.data), [wKN.shape[0], n])), g.keep);
    const b = bias ? own(tf.tensor1d(Float32Array.from(bias.data))) : undefined;
    const gemm = mm.node.opType === 'Gemm';
    return pattern(chain, [mm.node.input[0]], chain.length > 1 ? `${mm.node.opType}+Add` : mm.node.opType, ([x], ctx) => {
      const xt = logical(x, ctx);
      if (gemm && xt.rank !== 2) throw new Error(`${ctx.what}: Gemm needs a 2-D input, got shape [${xt.shape}]`);
      if (xt.shape[xt.rank - 1] !== wKN.shape[0]) throw new Error(`${ctx.what}: input [${xt.shape}] does not fit the weight [${w.shape}]`);
      return { t: xt.rank === 2 ? matMulStoredT(xt as tf.Tensor2D, kernel, b) : denseLastAxis(xt, kernel, b), nhwc: false };
    });
  }

  /** Div(x, sqrt 2) or Mul(x, 1/sqrt 2) -> Erf -> Add(., 1) -> then Mul(x, .) -> Mul(., 0.5), or Mul(Mul(x, 0.5), .). */
  function geluChain(scaleNode: GraphNode): FusedNode | null {
    const x = scaleNode.node.input.find((i) => !g.statics.has(i));
    if (!x) return null;
    const k = other(scaleNode, x);
    if (!(scaleNode.node.opType === 'Div' ? scaleNode.node.input[0] === x && scalarConst(k, Math.SQRT2) : scalarConst(k, Math.SQRT1_2))) return null;
    const erf = sole(scaleNode.node.output[0]);
    if (erf?.node.opType !== 'Erf') return null;
    const add = sole(erf.node.output[0]);
    if (add?.node.opType !== 'Add' || !scalarConst(other(add, erf.node.output[0]), 1)) return null;
    const mul = sole(add.node.output[0]);
    if (mul?.node.opType !== 'Mul') return null;
    const partner = other(mul, add.node.output[0]);
    let chain: GraphNode[];
    if (partner === x) {
      const half = sole(mul.node.output[0]);
      if (half?.node.opType !== 'Mul' || !scalarConst(other(half, mul.node.output[0]), 0.5)) return null;
      chain = [scaleNode, erf, add, mul, half];
    } else {
      const halfX = producer(partner!);
      if (!halfX || used.has(halfX.index) || halfX.node.opType !== 'Mul' || other(halfX, x) === undefined || !scalarConst(other(halfX, x), 0.5) || sole(partner!) !== mul) return null;
      chain = [halfX, scaleNode, erf, add, mul].sort((a, b) => a.index - b.index);
      if (chain[chain.length - 1] !== mul) return null;
    }
    return pattern(chain, [x], 'Gelu', ([v]) => (isConst(v) ? v : { t: gelu(v.t), nhwc: (v as TVal).nhwc }));
  }

  /** The node computing tensor `t`. */
  function producer(t: string): GraphNode | undefined {
    return g.nodes.find((n) => n.node.output[0] === t);
  }

  function layerNormChain(mean: GraphNode): FusedNode | null {
    const x = mean.node.input[0];
    const lastAxis = (n: GraphNode): boolean => {
      const axes = n.node.input[1] ? g.statics.get(n.node.input[1])?.data : n.attrs.ints('axes');
      return !!axes && axes.length === 1 && axes[0] === -1 && n.attrs.int('keepdims', 1) === 1;
    };
    if (!lastAxis(mean)) return null;
    const sub = (consumers.get(mean.node.output[0]) ?? [])[0];
    if (sub?.node.opType !== 'Sub' || sub.node.input[0] !== x || sub.node.input[1] !== mean.node.output[0]) return null;
    const d = sub.node.output[0];
    const dUsers = consumers.get(d) ?? [];
    const pow = dUsers.find((n) => n.node.opType === 'Pow');
    const div = dUsers.find((n) => n.node.opType === 'Div');
    if (dUsers.length !== 2 || !pow || !div || pow.node.input[0] !== d || !scalarConst(pow.node.input[1], 2) || div.node.input[0] !== d) return null;
    const mean2 = sole(pow.node.output[0]);
    if (mean2?.node.opType !== 'ReduceMean' || !lastAxis(mean2)) return null;
    const addEps = sole(mean2.node.output[0]);
    const epsName = addEps?.node.opType === 'Add' ? other(addEps, mean2.node.output[0]) : undefined;
    const epsC = epsName ? g.statics.get(epsName) : undefined;
    if (!addEps || !epsC || epsC.data.length !== 1) return null;
    const sqrt = sole(addEps.node.output[0]);
    if (sqrt?.node.opType !== 'Sqrt' || producer(div.node.input[1]) !== sqrt || sole(sqrt.node.output[0]) !== div) return null;
    const mul = sole(div.node.output[0]);
    const gamma = mul?.node.opType === 'Mul' ? g.statics.get(other(mul, div.node.output[0]) ?? '') : undefined;
    const add = mul && sole(mul.node.output[0]);
    const beta = add?.node.opType === 'Add' ? g.statics.get(other(add, mul!.node.output[0]) ?? '') : undefined;
    if (!gamma || !beta || gamma.shape.length !== 1 || beta.shape.length !== 1 || gamma.data.length !== beta.data.length) return null;
    if ((consumers.get(mean.node.output[0]) ?? []).length !== 1 || graphOut.has(mean.node.output[0]) || graphOut.has(d)) return null;
    const chain = [mean, sub, pow, mean2, addEps, sqrt, div, mul!, add!].sort((a, b) => a.index - b.index);
    if (chain[chain.length - 1] !== add || chain.some((n) => used.has(n.index))) return null;
    const eps = epsC.data[0];
    const gt = own(tf.tensor1d(Float32Array.from(gamma.data)));
    const bt = own(tf.tensor1d(Float32Array.from(beta.data)));
    return pattern(chain, [x], 'LayerNormalization', ([v], ctx) => {
      const xt = logical(v, ctx);
      if (xt.shape[xt.rank - 1] !== gamma.data.length) throw new Error(`${ctx.what}: input [${xt.shape}] does not fit ${gamma.data.length} scales`);
      return { t: layerNorm(xt, eps, gt, bt), nhwc: false };
    });
  }
}
