/**
 * ONNX operators. Each op has a TF.js implementation (differentiable) and/or a plain-JS implementation used
 * when every input is a compile-time constant (shape arithmetic, weight preparation).
 *
 * Layout: 4-D activations are kept NHWC internally. A tensor value carries `nhwc: true` when its logical ONNX
 * layout is NCHW but it is stored transposed to NHWC; ops that need the logical layout transpose on demand.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  Const, ConstType, broadcastShapes, checkConstShape, intsOf, jsConcat, jsElementwise, jsGather, jsSlice, jsTranspose, makeConst,
  normAxis, reshapeTarget, scalarOf, size, sliceParams, squeezeShape, typeOfDataType, unsqueezeShape,
} from './consts';
import { AttributeProto, NodeProto, toNum } from './proto';
import { layerNorm as sharedLayerNorm } from '../../backend/layernorm';
import { gelu } from '../../backend/actgrad';
import { oneDnnActive } from '../../backend/onednn';
import { type DenseKernel, matMulStoredT } from '../layers/dense';

export interface TVal {
  t: tf.Tensor;
  /** Logical 4-D NCHW stored as NHWC. */
  nhwc: boolean;
}
export type Val = Const | TVal;

export function isConst(v: Val): v is Const {
  return (v as Const).data !== undefined;
}

/** Services the interpreter gives the ops. */
export interface OpContext {
  opset: number;
  /** Node description for error messages. */
  what: string;
  /** Whether output `i` of the node is used: optional outputs (statistics, indices, masks) are computed only then. */
  wants(i: number): boolean;
  /** A TF tensor for a constant; cached and kept when the constant is static (weights). */
  tensorOf(c: Const, key?: string, make?: (c: Const) => Const): tf.Tensor;
  /** A constant derived from another one (cached with it when it is static). */
  derived(c: Const, key: string, make: (c: Const) => Const): Const;
  /** Decodes a TensorProto attribute. */
  decodeAttrTensor(a: AttributeProto): Const;
}

export class Attrs {
  private readonly map = new Map<string, AttributeProto>();
  constructor(node: NodeProto) {
    for (const a of node.attribute) this.map.set(a.name, a);
  }
  has(name: string): boolean {
    return this.map.has(name);
  }
  int(name: string, def: number): number {
    const a = this.map.get(name);
    return a ? toNum(a.i) : def;
  }
  float(name: string, def: number): number {
    const a = this.map.get(name);
    return a ? a.f : def;
  }
  ints(name: string): number[] | undefined {
    const a = this.map.get(name);
    return a ? a.ints.map(toNum) : undefined;
  }
  str(name: string, def: string): string {
    const a = this.map.get(name);
    return a ? Buffer.from(a.s).toString('utf8') : def;
  }
  get(name: string): AttributeProto | undefined {
    return this.map.get(name);
  }
}

type Ins = (Val | undefined)[];
export type JsOp = (ins: Ins, at: Attrs, ctx: OpContext, outCount: number) => Const[];
export type TfOp = (ins: Ins, at: Attrs, ctx: OpContext, outCount: number) => Val[];

// --------------------------------------------------------------------------------------------------------------
// helpers

export function logicalShape(v: Val): number[] {
  if (isConst(v)) return v.shape;
  const s = v.t.shape as number[];
  return v.nhwc ? [s[0], s[3], s[1], s[2]] : [...s];
}

function req(ins: Ins, i: number, ctx: OpContext): Val {
  const v = ins[i];
  if (!v) throw new Error(`${ctx.what}: missing input ${i}`);
  return v;
}

function reqConst(ins: Ins, i: number, ctx: OpContext, role: string): Const {
  const v = req(ins, i, ctx);
  if (!isConst(v)) throw new Error(`${ctx.what}: ${role} (input ${i}) must be a constant, it is computed at run time`);
  return v;
}

/** The tensor in its logical ONNX layout. */
export function logical(v: Val, ctx: OpContext): tf.Tensor {
  if (isConst(v)) return ctx.tensorOf(v);
  return v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
}

/** A logical 4-D NCHW value as a physical NHWC tensor. */
export function toNHWC(v: Val, ctx: OpContext): tf.Tensor4D {
  if (!isConst(v) && v.nhwc) return v.t as tf.Tensor4D;
  const s = logicalShape(v);
  if (s.length !== 4) throw new Error(`${ctx.what}: expected a 4-D NCHW tensor, got shape [${s}]`);
  if (isConst(v)) return ctx.tensorOf(v, 'nhwc', (c) => jsTranspose(c, [0, 2, 3, 1])) as tf.Tensor4D;
  return tf.transpose(v.t, [0, 2, 3, 1]) as tf.Tensor4D;
}

/** A value of logical rank <= 4 broadcast-aligned to a physical NHWC partner. */
function toPhysicalFor4D(v: Val, ctx: OpContext): tf.Tensor {
  if (!isConst(v) && v.nhwc) return v.t;
  const s = logicalShape(v);
  if (s.length > 4) throw new Error(`${ctx.what}: cannot broadcast rank ${s.length} with a 4-D tensor`);
  const s4 = [...new Array<number>(4 - s.length).fill(1), ...s];
  if (isConst(v)) {
    return ctx.tensorOf(v, 'nhwc4', (c) => jsTranspose({ ...c, shape: s4 }, [0, 2, 3, 1]));
  }
  return tf.transpose(tf.reshape(v.t, s4), [0, 2, 3, 1]);
}

/** Position in the physical NHWC tensor of logical NCHW axis `a`. */
function physAxis(a: number): number {
  return [0, 2, 3, 1].indexOf(a);
}

function tv(t: tf.Tensor, nhwc = false): TVal {
  return { t, nhwc };
}

function binaryTf(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor): TfOp {
  return (ins, _at, ctx) => {
    const a = req(ins, 0, ctx);
    const b = req(ins, 1, ctx);
    const an = !isConst(a) && a.nhwc;
    const bn = !isConst(b) && b.nhwc;
    if ((an || bn) && logicalShape(a).length <= 4 && logicalShape(b).length <= 4) {
      return [tv(f(toPhysicalFor4D(a, ctx), toPhysicalFor4D(b, ctx)), true)];
    }
    return [tv(f(logical(a, ctx), logical(b, ctx)))];
  };
}

function unaryTf(f: (x: tf.Tensor) => tf.Tensor): TfOp {
  return (ins, _at, ctx) => {
    const x = req(ins, 0, ctx);
    if (isConst(x)) return [tv(f(ctx.tensorOf(x)))];
    return [tv(f(x.t), x.nhwc)];
  };
}

function resultType(a: Const, b: Const): ConstType {
  return a.type === 'float' || b.type === 'float' ? 'float' : a.type;
}

function binaryJs(f: (a: number, b: number) => number, intF?: (a: number, b: number) => number): JsOp {
  return (ins, _at, ctx) => {
    const a = reqConst(ins, 0, ctx, 'A');
    const b = reqConst(ins, 1, ctx, 'B');
    const type = resultType(a, b);
    return [jsElementwise([a, b], type, type === 'float' || !intF ? f : intF, ctx.what)];
  };
}

/** Sum, Mean, Max, Min of one or more constants. */
function variadicJs(f: (a: number, b: number) => number, mean = false): JsOp {
  return (ins, _at, ctx) => {
    const cs = ins.map((v, i) => (v ? reqConst(ins, i, ctx, `input ${i}`) : undefined)).filter((c): c is Const => !!c);
    if (cs.length === 0) throw new Error(`${ctx.what}: no inputs`);
    const type = cs.some((c) => c.type === 'float') ? 'float' : cs[0].type;
    return [jsElementwise(cs, type, (...v) => v.reduce(f) / (mean ? v.length : 1), ctx.what)];
  };
}

function unaryJs(f: (a: number) => number): JsOp {
  return (ins, _at, ctx) => {
    const a = reqConst(ins, 0, ctx, 'X');
    return [jsElementwise([a], a.type, f, ctx.what)];
  };
}

function tfDtype(t: ConstType): tf.DataType {
  return t === 'float' ? 'float32' : t === 'int' ? 'int32' : 'bool';
}

/** Axes from the attribute (older opsets) or the optional second input (newer opsets). */
function axesArg(ins: Ins, at: Attrs, ctx: OpContext, inputIdx: number): number[] | undefined {
  const v = ins[inputIdx];
  if (v) {
    if (!isConst(v)) throw new Error(`${ctx.what}: axes must be constant`);
    return intsOf(v);
  }
  return at.ints('axes');
}

/** Explicit [top, left, bottom, right] pads for a conv/pool from pads or auto_pad. */
function spatialPads(
  at: Attrs, inHW: number[], kHW: number[], strides: number[], dil: number[], ctx: OpContext,
): [number, number, number, number] {
  const auto = at.str('auto_pad', 'NOTSET');
  if (auto === 'NOTSET') {
    const p = at.ints('pads') ?? [0, 0, 0, 0];
    if (p.length !== 4) throw new Error(`${ctx.what}: only 2-D pads are supported, got [${p}]`);
    return [p[0], p[1], p[2], p[3]];
  }
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto !== 'SAME_UPPER' && auto !== 'SAME_LOWER') throw new Error(`${ctx.what}: unknown auto_pad ${auto}`);
  const begin: number[] = [];
  const end: number[] = [];
  for (let i = 0; i < 2; i++) {
    const out = Math.ceil(inHW[i] / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + (kHW[i] - 1) * dil[i] + 1 - inHW[i]);
    const small = Math.floor(total / 2);
    begin.push(auto === 'SAME_UPPER' ? small : total - small);
    end.push(auto === 'SAME_UPPER' ? total - small : small);
  }
  return [begin[0], begin[1], end[0], end[1]];
}

type PadArg = 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

function padArg(p: [number, number, number, number]): PadArg {
  const [t, l, b, r] = p;
  if (t === 0 && l === 0 && b === 0 && r === 0) return 'valid';
  if (t === l && t === b && t === r) return t;
  return [[0, 0], [t, b], [l, r], [0, 0]];
}

// --------------------------------------------------------------------------------------------------------------
// convolution and pooling

/** An OIHW filter with dilation d written out as zeros: kernel (k - 1) * d + 1. */
function dilateFilter(k: Const, d: number[]): Const {
  const [m, cg, kh, kw] = k.shape;
  const [eh, ew] = [(kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1];
  const out = new Float32Array(m * cg * eh * ew);
  for (let o = 0; o < m * cg; o++) {
    for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) out[(o * eh + u * d[0]) * ew + v * d[1]] = k.data[(o * kh + u) * kw + v];
  }
  return { type: 'float', shape: [m, cg, eh, ew], data: out };
}

const conv: TfOp = (ins, at, ctx) => {
  const x = toNHWC(req(ins, 0, ctx), ctx);
  let w = reqConst(ins, 1, ctx, 'weight');
  const b = ins[2];
  if (w.shape.length !== 4) throw new Error(`${ctx.what}: only 2-D convolutions are supported (weight [${w.shape}])`);
  const g = at.int('group', 1);
  const c = x.shape[3];
  if (w.shape[1] * g !== c) throw new Error(`${ctx.what}: weight [${w.shape}] with group ${g} does not fit ${c} channels`);
  const strides = (at.ints('strides') ?? [1, 1]) as [number, number];
  let dil = (at.ints('dilations') ?? [1, 1]) as [number, number];
  const pads = padArg(spatialPads(at, [x.shape[1], x.shape[2]], w.shape.slice(2), strides, dil, ctx));
  const dilated = dil[0] > 1 || dil[1] > 1;
  // TF.js rejects stride > 1 with dilation > 1, and its dilated depthwise conv has no gradient: use the
  // equivalent zero-inserted filter (a constant, built once) with dilation 1 there.
  if (dilated && ((strides[0] > 1 || strides[1] > 1) || (g === c && g > 1))) {
    const d = dil;
    w = ctx.derived(w, `dilate${d}`, (k) => dilateFilter(k, d));
    dil = [1, 1];
  }
  const [m, cg, kh, kw] = w.shape;
  let y: tf.Tensor4D;
  if (g === 1) {
    const f = ctx.tensorOf(w, 'hwio', (k) => jsTranspose(k, [2, 3, 1, 0])) as tf.Tensor4D;
    y = tf.conv2d(x, f, strides, pads, 'NHWC', dil);
  } else if (g === c && cg === 1) {
    // depthwise: output channel k = c * mult + j  <->  TF depthwise filter [kh, kw, c, j]
    const mult = m / c;
    const f = ctx.tensorOf(w, 'dw', (k) => jsTranspose({ ...k, shape: [c, mult, kh, kw] }, [2, 3, 0, 1]));
    y = tf.depthwiseConv2d(x, f as tf.Tensor4D, strides, pads, 'NHWC', dil);
  } else {
    // grouped: one conv per group
    const f = ctx.tensorOf(w, 'hwio', (k) => jsTranspose(k, [2, 3, 1, 0])) as tf.Tensor4D;
    const xs = tf.split(x, g, 3);
    const fs = tf.split(f, g, 3);
    y = tf.concat(xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, fs[i] as tf.Tensor4D, strides, pads, 'NHWC', dil)), 3) as tf.Tensor4D;
  }
  if (b) {
    if (!isConst(b)) throw new Error(`${ctx.what}: bias must be a constant`);
    y = tf.add(y, ctx.tensorOf(b));
  }
  return [tv(y, true)];
};

/** Every `s`-th of the first `n * s` rows (axis 1) or columns (axis 2), through pad, reshape and slice (tf.stridedSlice
 *  has no gradient). */
function everyNth(x: tf.Tensor4D, axis: 1 | 2, s: number, n: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const len = x.shape[axis];
  if (s === 1) return tf.slice(x, [0, 0, 0, 0], axis === 1 ? [b, n, w, c] : [b, h, n, c]);
  const need = n * s;
  const fit = need > len
    ? tf.pad(x, axis === 1 ? [[0, 0], [0, need - len], [0, 0], [0, 0]] : [[0, 0], [0, 0], [0, need - len], [0, 0]])
    : tf.slice(x, [0, 0, 0, 0], axis === 1 ? [b, need, w, c] : [b, h, need, c]);
  const split = axis === 1 ? [b, n, s, w, c] : [b, h, n, s, c];
  const first = tf.slice(tf.reshape(fit, split), [0, 0, 0, 0, 0], axis === 1 ? [b, n, 1, w, c] : [b, h, n, 1, c]);
  return tf.reshape(first, axis === 1 ? [b, n, w, c] : [b, h, n, c]);
}

/** Max pooling of the padded input `xp` (with dilations) as the maximum of the kernel's shifted, strided taps. */
function tapsMaxPool(xp: tf.Tensor4D, k: number[], strides: number[], dil: number[]): tf.Tensor4D {
  const oh = Math.floor((xp.shape[1] - ((k[0] - 1) * dil[0] + 1)) / strides[0]) + 1;
  const ow = Math.floor((xp.shape[2] - ((k[1] - 1) * dil[1] + 1)) / strides[1]) + 1;
  let y: tf.Tensor4D | undefined;
  for (let u = 0; u < k[0]; u++) for (let v = 0; v < k[1]; v++) {
    const [b, h, w, c] = xp.shape;
    const shifted = tf.slice(xp, [0, u * dil[0], v * dil[1], 0], [b, h - u * dil[0], w - v * dil[1], c]);
    const tap = everyNth(everyNth(shifted, 1, strides[0], oh), 2, strides[1], ow);
    y = y ? tf.maximum(y, tap) as tf.Tensor4D : tap;
  }
  return y!;
}

/** MaxPool's Indices output: for each window, the flat NCHW (storage order 0) or NCWH (1) index of its maximum. */
function maxPoolIndices(x: tf.Tensor4D, k: number[], strides: number[], dil: number[], top: number, left: number,
  oh: number, ow: number, colMajor: boolean): tf.Tensor {
  const [n, h, w, c] = x.shape;
  const d = x.dataSync();
  const out = new Int32Array(n * c * oh * ow);
  let o = 0;
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
    let best = -Infinity;
    let at = -1;
    for (let u = 0; u < k[0]; u++) for (let v = 0; v < k[1]; v++) {
      const yy = i * strides[0] - top + u * dil[0];
      const xx = j * strides[1] - left + v * dil[1];
      if (yy < 0 || xx < 0 || yy >= h || xx >= w) continue;
      const val = d[((b * h + yy) * w + xx) * c + ch];
      if (at < 0 || val > best) {
        best = val;
        at = (b * c + ch) * h * w + (colMajor ? xx * h + yy : yy * w + xx);
      }
    }
    out[o++] = at;
  }
  return tf.tensor4d(out, [n, c, oh, ow], 'int32');
}

/** `x` with `s - 1` zeros between neighbours along H and W (pad and reshape: differentiable, no kernel gaps). */
function zeroInsert(x: tf.Tensor4D, s: number[]): tf.Tensor4D {
  if (s[0] === 1 && s[1] === 1) return x;
  const [n, h, w, c] = x.shape;
  const spread = tf.pad(tf.reshape(x, [n, h, 1, w, 1, c]), [[0, 0], [0, 0], [0, s[0] - 1], [0, 0], [0, s[1] - 1], [0, 0]]);
  return tf.slice(tf.reshape(spread, [n, h * s[0], w * s[1], c]) as tf.Tensor4D, [0, 0, 0, 0], [n, (h - 1) * s[0] + 1, (w - 1) * s[1] + 1, c]);
}

/** A ConvTranspose weight [C, M/group, kh, kw] as the HWIO filter of the equivalent convolution: flipped in space. */
function flippedHWIO(k: Const): Const {
  const [ci, co, kh, kw] = k.shape;
  const out = new Float32Array(k.data.length);
  for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) {
    out[((u * kw + v) * ci + i) * co + o] = k.data[((i * co + o) * kh + (kh - 1 - u)) * kw + (kw - 1 - v)];
  }
  return { type: 'float', shape: [kh, kw, ci, co], data: out };
}

/**
 * ConvTranspose (2-D) as a convolution of the zero-inserted input with the flipped filter, so that its input
 * gradient is an ordinary convolution's (fast on every backend).
 */
const convTranspose: TfOp = (ins, at, ctx) => {
  const x = toNHWC(req(ins, 0, ctx), ctx);
  const w = reqConst(ins, 1, ctx, 'weight');
  if (w.shape.length !== 4) throw new Error(`${ctx.what}: only 2-D transposed convolutions are supported (weight [${w.shape}])`);
  const g = at.int('group', 1);
  const c = x.shape[3];
  if (w.shape[0] !== c || c % g !== 0) throw new Error(`${ctx.what}: weight [${w.shape}] with group ${g} does not fit ${c} channels`);
  const strides = at.ints('strides') ?? [1, 1];
  const dil = at.ints('dilations') ?? [1, 1];
  const outPad = at.ints('output_padding') ?? [0, 0];
  const ke = [0, 1].map((i) => (w.shape[2 + i] - 1) * dil[i] + 1);
  const inHW = [x.shape[1], x.shape[2]];
  const auto = at.str('auto_pad', 'NOTSET');
  const outShape = at.ints('output_shape');
  let pads = at.ints('pads') ?? [0, 0, 0, 0];
  if (outShape || auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    // pads from the output size: the odd one at the end (at the start for SAME_LOWER); a negative total (an
    // output_shape larger than the full output) extends the end
    const target = outShape ? outShape.slice(-2) : inHW.map((v, i) => v * strides[i]);
    const total = [0, 1].map((i) => strides[i] * (inHW[i] - 1) + outPad[i] + ke[i] - target[i]);
    const [lo, hi] = [total.map((v) => Math.trunc(v / 2)), total.map((v) => v - Math.trunc(v / 2))];
    pads = auto === 'SAME_LOWER' ? [...hi, ...lo] : [...lo, ...hi];
  } else if (auto === 'VALID') {
    pads = [0, 0, 0, 0];
  } else if (auto !== 'NOTSET') {
    throw new Error(`${ctx.what}: unknown auto_pad ${auto}`);
  }
  if (pads.length !== 4) throw new Error(`${ctx.what}: only 2-D pads are supported, got [${pads}]`);
  // the full convolution pads each side by ke - 1; ONNX's pads crop that, output_padding adds at the end
  const cp = [ke[0] - 1 - pads[0], ke[1] - 1 - pads[1], ke[0] - 1 - pads[2] + outPad[0], ke[1] - 1 - pads[3] + outPad[1]];
  const xp = tf.pad(zeroInsert(x, strides), [[0, 0], [Math.max(cp[0], 0), Math.max(cp[2], 0)], [Math.max(cp[1], 0), Math.max(cp[3], 0)], [0, 0]]) as tf.Tensor4D;
  const f = ctx.tensorOf(w, `convT${dil}`, (k) => flippedHWIO(dil.some((d) => d > 1) ? dilateFilter(k, dil) : k)) as tf.Tensor4D;
  let y: tf.Tensor4D;
  if (g === 1) {
    y = tf.conv2d(xp, f, 1, 'valid');
  } else {
    const fs = tf.split(f, g, 2);
    y = tf.concat(tf.split(xp, g, 3).map((xi, i) => tf.conv2d(xi as tf.Tensor4D, fs[i] as tf.Tensor4D, 1, 'valid')), 3) as tf.Tensor4D;
  }
  if (cp.some((v) => v < 0)) {
    const [t, l] = [Math.max(-cp[0], 0), Math.max(-cp[1], 0)];
    y = tf.slice(y, [0, t, l, 0], [y.shape[0], y.shape[1] - t - Math.max(-cp[2], 0), y.shape[2] - l - Math.max(-cp[3], 0), y.shape[3]]);
  }
  const b = ins[2];
  if (b) y = tf.add(y, ctx.tensorOf(reqConst(ins, 2, ctx, 'bias')));
  return [tv(y, true)];
};

function pool(kind: 'max' | 'avg'): TfOp {
  return (ins, at, ctx) => {
    const x = toNHWC(req(ins, 0, ctx), ctx);
    const k = at.ints('kernel_shape');
    if (!k || k.length !== 2) throw new Error(`${ctx.what}: only 2-D pooling is supported (kernel_shape [${k}])`);
    if (!k.every((d) => d > 0)) throw new Error(`${ctx.what}: kernel_shape [${k}] must be positive`);
    const strides = (at.ints('strides') ?? [1, 1]) as [number, number];
    const dil = at.ints('dilations') ?? [1, 1];
    const dilated = dil.some((d) => d !== 1);
    if (dilated && kind === 'avg') throw new Error(`${ctx.what}: dilated average pooling is not supported`);
    const ke = k.map((kk, i) => (kk - 1) * dil[i] + 1);
    let [t, l, b, r] = spatialPads(at, [x.shape[1], x.shape[2]], k, strides, dil, ctx);
    const ceil = at.int('ceil_mode', 0) === 1;
    if (ceil) {
      // extend bottom/right padding so that floor-mode output equals the ceil-mode output
      for (const [ax, i] of [[1, 0], [2, 1]] as const) {
        const inS = x.shape[ax] + (i === 0 ? t + b : l + r);
        let out = Math.ceil((inS - ke[i]) / strides[i]) + 1;
        if ((out - 1) * strides[i] >= x.shape[ax] + (i === 0 ? t : l)) out--; // last window must start inside
        const extra = Math.max(0, (out - 1) * strides[i] + ke[i] - inS);
        if (i === 0) b += extra;
        else r += extra;
      }
    }
    const includePad = kind === 'avg' && at.int('count_include_pad', 0) === 1;
    const p = padArg([t, l, b, r]);
    if (kind === 'max') {
      // TF.js's wasm MaxPool takes float32 only; integer images are exact in float32 up to 2^24
      const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
      let y: tf.Tensor4D;
      if (!dilated && typeof p === 'object' && t < k[0] && b < k[0] && l < k[1] && r < k[1]) {
        // Uneven padding: the edge repeated into it. Every window then also holds the cell each padded one copies
        // (the same maximum; the gradient reaches that cell), and the input stays finite, as wasm's MaxPoolGrad
        // needs (../../backend/wasm_kernels.ts).
        const xp = padAxis(padAxis(xf, 1, t, b, 'edge', ctx), 2, l, r, 'edge', ctx) as tf.Tensor4D;
        y = tf.maxPool(xp, k as [number, number], strides, 'valid');
      } else if (dilated || typeof p === 'object') {
        y = tapsMaxPool(tf.pad(xf, [[0, 0], [t, b], [l, r], [0, 0]], -Infinity), k, strides, dil);
      } else {
        y = tf.maxPool(xf, k as [number, number], strides, p);
      }
      const outs: Val[] = [tv(xf === x ? y : tf.cast(y, x.dtype), true)];
      if (ctx.wants(1)) {
        outs.push(tv(maxPoolIndices(xf, k, strides, dil, t, l, y.shape[1], y.shape[2], at.int('storage_order', 0) === 1)));
      }
      return outs;
    }
    if (!ceil && (p === 'valid' || (typeof p === 'number' && !includePad))) {
      return [tv(tf.avgPool(x, k as [number, number], strides, p), true)];
    }
    // general case: average over the zero-padded input, rescaled by the number of counted elements
    const [t0, l0, b0, r0] = spatialPads(at, [x.shape[1], x.shape[2]], k, strides, dil, ctx);
    const xp = tf.pad(x, [[0, 0], [t, b], [l, r], [0, 0]]) as tf.Tensor4D;
    const s = tf.avgPool(xp, k as [number, number], strides, 'valid');
    const [oh, ow] = [s.shape[1], s.shape[2]];
    const counts = new Float32Array(oh * ow);
    const [lo0, hi0] = includePad ? [-t0, x.shape[1] + b0] : [0, x.shape[1]];
    const [lo1, hi1] = includePad ? [-l0, x.shape[2] + r0] : [0, x.shape[2]];
    for (let i = 0; i < oh; i++) for (let j = 0; j < ow; j++) {
      const y0 = i * strides[0] - t;
      const x0 = j * strides[1] - l;
      const ny = Math.min(y0 + k[0], hi0) - Math.max(y0, lo0);
      const nx = Math.min(x0 + k[1], hi1) - Math.max(x0, lo1);
      counts[i * ow + j] = (k[0] * k[1]) / (Math.max(ny, 0) * Math.max(nx, 0));
    }
    return [tv(tf.mul(s, tf.tensor4d(counts, [1, oh, ow, 1])), true)];
  };
}

const globalAvgPool: TfOp = (ins, _at, ctx) => [tv(tf.mean(toNHWC(req(ins, 0, ctx), ctx), [1, 2], true), true)];
const globalMaxPool: TfOp = (ins, _at, ctx) => [tv(tf.max(toNHWC(req(ins, 0, ctx), ctx), [1, 2], true), true)];

/**
 * BatchNormalization in training mode: normalised with the batch's statistics (gradients flow through them).
 * Outputs Y, the updated running mean and variance, and before opset 14 the batch mean and variance.
 */
function batchNormTraining(x: Val, [scale, bias, mean, vr]: Const[], eps: number, at: Attrs, ctx: OpContext): Val[] {
  const xl = logical(x, ctx);
  const rank = xl.rank;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const pshape = [scale.data.length, ...new Array<number>(rank - 2).fill(1)];
  const param = (c: Const) => tf.tensor(c.data, pshape);
  const bm = tf.mean(xl, axes, true);
  const bv = tf.mean(tf.square(tf.sub(xl, bm)), axes, true);
  const y = tf.add(tf.mul(tf.mul(tf.sub(xl, bm), tf.rsqrt(tf.add(bv, eps))), param(scale)), param(bias));
  const momentum = at.float('momentum', 0.9);
  const running = (c: Const, batch: tf.Tensor) => tv(tf.add(tf.mul(tf.tensor1d(Float32Array.from(c.data)), momentum), tf.mul(tf.reshape(batch, [-1]), 1 - momentum)));
  const outs: Val[] = [tv(y)];
  if (ctx.wants(1)) outs[1] = running(mean, bm);
  if (ctx.wants(2)) outs[2] = running(vr, bv);
  if (ctx.wants(3)) outs[3] = tv(tf.reshape(bm, [-1]));
  if (ctx.wants(4)) outs[4] = tv(tf.reshape(bv, [-1]));
  return outs;
}

const batchNorm: TfOp = (ins, at, ctx, outCount) => {
  const x = req(ins, 0, ctx);
  const [scale, bias, mean, vr] = [1, 2, 3, 4].map((i) => reqConst(ins, i, ctx, 'BatchNormalization parameter'));
  const eps = at.float('epsilon', 1e-5);
  // training_mode (opset 14+); before, the optional outputs (running and batch statistics) mean training
  if (ctx.opset >= 14 ? at.int('training_mode', 0) === 1 : outCount > 1) return batchNormTraining(x, [scale, bias, mean, vr], eps, at, ctx);
  const n = scale.data.length;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = scale.data[i] / Math.sqrt(vr.data[i] + eps);
    b[i] = bias.data[i] - mean.data[i] * a[i];
  }
  const rank = logicalShape(x).length;
  if (rank === 4) {
    const xt = toNHWC(x, ctx);
    const ta = ctx.tensorOf(scale, 'bn_a', () => makeConst('float', [n], a));
    const tb = ctx.tensorOf(bias, 'bn_b', () => makeConst('float', [n], b));
    return [tv(tf.add(tf.mul(xt, ta), tb), true)];
  }
  const shape = [n, ...new Array<number>(rank - 2).fill(1)];
  const ta = ctx.tensorOf(scale, 'bn_a' + rank, () => makeConst('float', shape, a));
  const tb = ctx.tensorOf(bias, 'bn_b' + rank, () => makeConst('float', shape, b));
  return [tv(tf.add(tf.mul(logical(x, ctx), ta), tb))];
};

// --------------------------------------------------------------------------------------------------------------
// dense

/** `a [M,K] @ W` for a constant W given as [K,N] (`transposed` false) or [N,K] (true), through the shared dense layer
 * (input gradient against a stored W^T; no gradient to W). */
function constMatMul(a: tf.Tensor, w: Const, transposed: boolean, ctx: OpContext): tf.Tensor {
  const t = (c: Const) => jsTranspose(c, [1, 0]);
  const kernel: DenseKernel = { w: ctx.tensorOf(w, transposed ? 'T' : '', transposed ? t : undefined) as tf.Tensor2D };
  if (!oneDnnActive()) kernel.wT = ctx.tensorOf(w, transposed ? '' : 'T', transposed ? undefined : t) as tf.Tensor2D;
  return matMulStoredT(a as tf.Tensor2D, kernel);
}

const gemm: TfOp = (ins, at, ctx) => {
  const a = logical(req(ins, 0, ctx), ctx);
  const bv = req(ins, 1, ctx);
  const transA = at.int('transA', 0) === 1;
  const transB = at.int('transB', 0) === 1;
  const alpha = at.float('alpha', 1);
  const beta = at.float('beta', 1);
  let y = isConst(bv) && !transA ? constMatMul(a, bv, transB, ctx) : tf.matMul(a, logical(bv, ctx), transA, transB);
  if (alpha !== 1) y = tf.mul(y, alpha);
  const c = ins[2];
  if (c) {
    const ct = logical(c, ctx);
    y = tf.add(y, beta === 1 ? ct : tf.mul(ct, beta));
  }
  return [tv(y)];
};

/** `a @ b` per batch element as 2-D untransposed matmuls, forward and backward (wasm's batched and
 *  transposed matmuls are an order of magnitude slower; this is attention's Q K^T and A V). */
function batchMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const lead = (a.shape as number[]).slice(0, -2);
  const [m, k] = (a.shape as number[]).slice(-2);
  const n = (b.shape as number[])[b.rank - 1];
  const bs = size(lead);
  const mm = (x: tf.Tensor3D, y: tf.Tensor3D) => {
    const xs = tf.unstack(x);
    const ys = tf.unstack(y);
    return tf.stack(xs.map((xi, i) => tf.matMul(xi as tf.Tensor2D, ys[i] as tf.Tensor2D))) as tf.Tensor3D;
  };
  const tr = (x: tf.Tensor3D) => tf.transpose(x, [0, 2, 1]);
  const f = tf.customGrad((x, y, save) => {
    (save as tf.GradSaveFunc)([x as tf.Tensor, y as tf.Tensor]);
    return {
      value: mm(x as tf.Tensor3D, y as tf.Tensor3D),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ys] = saved as tf.Tensor3D[];
        return [mm(dy as tf.Tensor3D, tr(ys)), mm(tr(xs), dy as tf.Tensor3D)];
      },
    };
  });
  const y = f(tf.reshape(a, [bs, m, k]), tf.reshape(b, [bs, k, n]));
  return tf.reshape(y, [...lead, m, n]);
}

const matMul: TfOp = (ins, _at, ctx) => {
  const a = logical(req(ins, 0, ctx), ctx);
  const bv = req(ins, 1, ctx);
  const bShape = logicalShape(bv);
  if (a.rank < 2 || bShape.length < 2) throw new Error(`${ctx.what}: MatMul of rank-1 tensors is not supported`);
  if (bShape.length === 2) {
    const as = a.shape as number[];
    const a2 = a.rank === 2 ? a : tf.reshape(a, [-1, as[as.length - 1]]);
    const y = isConst(bv) ? constMatMul(a2, bv, false, ctx) : tf.matMul(a2 as tf.Tensor2D, logical(bv, ctx) as tf.Tensor2D);
    return [tv(a.rank === 2 ? y : tf.reshape(y, [...as.slice(0, -1), bShape[1]]))];
  }
  const b = logical(bv, ctx);
  if (a.rank === b.rank && a.shape.slice(0, -2).join() === b.shape.slice(0, -2).join()) return [tv(batchMatMul(a, b))];
  return [tv(tf.matMul(a, b))];
};

// --------------------------------------------------------------------------------------------------------------
// shape manipulation (tensor versions; the JS versions are below)

const reshapeTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const target = intsOf(reqConst(ins, 1, ctx, 'shape'));
  const shape = reshapeTarget(logicalShape(x), target, at.int('allowzero', 0) === 1, ctx.what);
  return [tv(tf.reshape(logical(x, ctx), shape))];
};

const flattenTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const s = logicalShape(x);
  const axis = at.int('axis', 1);
  const ax = axis < 0 ? axis + s.length : axis;
  const shape = [size(s.slice(0, ax)), size(s.slice(ax))];
  if (!isConst(x) && x.nhwc && s[2] === 1 && s[3] === 1) return [tv(tf.reshape(x.t, shape))];
  return [tv(tf.reshape(logical(x, ctx), shape))];
};

const transposeTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const rank = logicalShape(x).length;
  const perm = at.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  if (!isConst(x) && x.nhwc) {
    const toPhys = [0, 3, 1, 2];
    return [tv(tf.transpose(x.t, perm.map((p) => toPhys[p])))];
  }
  return [tv(tf.transpose(logical(x, ctx), perm))];
};

const concatTf: TfOp = (ins, at, ctx) => {
  const vals = ins.filter((v): v is Val => !!v);
  const rank = logicalShape(vals[0]).length;
  const axis = normAxis(at.int('axis', 0), rank, ctx.what);
  if (vals.every((v) => !isConst(v) && v.nhwc)) {
    return [tv(tf.concat(vals.map((v) => (v as TVal).t), physAxis(axis)), true)];
  }
  return [tv(tf.concat(vals.map((v) => logical(v, ctx)), axis))];
};

/** Slices with step 1 through tf.slice; other steps through gather (tf.stridedSlice has no gradient). */
function sliceTensor(x: tf.Tensor, p: { begin: number[]; step: number[]; outShape: number[] }): tf.Tensor {
  let y = tf.slice(x, p.begin.map((b, i) => (p.step[i] === 1 ? b : 0)),
    p.outShape.map((s, i) => (p.step[i] === 1 ? s : x.shape[i])));
  p.step.forEach((st, ax) => {
    if (st === 1) return;
    const idx = Array.from({ length: p.outShape[ax] }, (_, k) => p.begin[ax] + k * st);
    y = tf.gather(y, tf.tensor1d(idx, 'int32'), ax);
  });
  return y;
}

function sliceArgs(ins: Ins, at: Attrs, ctx: OpContext, shape: number[]) {
  if (ctx.opset < 10) {
    return sliceParams(shape, at.ints('starts') ?? [], at.ints('ends') ?? [], at.ints('axes'), undefined, ctx.what);
  }
  const opt = (i: number, role: string) => (ins[i] ? intsOf(reqConst(ins, i, ctx, role)) : undefined);
  return sliceParams(shape, intsOf(reqConst(ins, 1, ctx, 'starts')), intsOf(reqConst(ins, 2, ctx, 'ends')),
    opt(3, 'axes'), opt(4, 'steps'), ctx.what);
}

const sliceTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const p = sliceArgs(ins, at, ctx, logicalShape(x));
  return [tv(sliceTensor(logical(x, ctx), p))];
};

const gatherTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const iv = req(ins, 1, ctx);
  const shape = logicalShape(x);
  const ax = normAxis(at.int('axis', 0), shape.length, ctx.what);
  const xt = logical(x, ctx);
  if (!isConst(iv)) return [tv(tf.gather(xt, tf.cast(iv.t, 'int32'), ax))];
  const ids = intsOf(iv).map((i) => (i < 0 ? i + shape[ax] : i));
  for (const i of ids) if (i < 0 || i >= shape[ax]) throw new Error(`${ctx.what}: index ${i} out of range`);
  // a few indices: slices (their gradient needs no UnsortedSegmentSum kernel)
  let y: tf.Tensor;
  if (ids.length <= 64) {
    const parts = ids.map((i) => {
      const begin = shape.map((_, d) => (d === ax ? i : 0));
      const sz = shape.map((s, d) => (d === ax ? 1 : s));
      return tf.slice(xt, begin, sz);
    });
    y = parts.length === 1 ? parts[0] : tf.concat(parts, ax);
  } else {
    y = tf.gather(xt, tf.tensor1d(ids, 'int32'), ax);
  }
  const outShape = [...shape.slice(0, ax), ...iv.shape, ...shape.slice(ax + 1)];
  return [tv(tf.reshape(y, outShape))];
};

function splitSizes(ins: Ins, at: Attrs, ctx: OpContext, dim: number, outCount: number): number[] {
  const s = ins[1] ? intsOf(reqConst(ins, 1, ctx, 'split')) : at.ints('split');
  if (s) return s;
  const n = at.int('num_outputs', outCount);
  const chunk = Math.ceil(dim / n);
  return Array.from({ length: n }, (_, i) => Math.min(chunk, dim - i * chunk));
}

const splitTf: TfOp = (ins, at, ctx, outCount) => {
  const x = req(ins, 0, ctx);
  const shape = logicalShape(x);
  const ax = normAxis(at.int('axis', 0), shape.length, ctx.what);
  const sizes = splitSizes(ins, at, ctx, shape[ax], outCount);
  if (!isConst(x) && x.nhwc) return tf.split(x.t, sizes, physAxis(ax)).map((t) => tv(t, true));
  return tf.split(logical(x, ctx), sizes, ax).map((t) => tv(t));
};

const squeezeTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const shape = squeezeShape(logicalShape(x), axesArg(ins, at, ctx, 1), ctx.what);
  return [tv(tf.reshape(logical(x, ctx), shape))];
};

const unsqueezeTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const axes = axesArg(ins, at, ctx, 1);
  if (!axes) throw new Error(`${ctx.what}: Unsqueeze without axes`);
  return [tv(tf.reshape(logical(x, ctx), unsqueezeShape(logicalShape(x), axes, ctx.what)))];
};

const expandTf: TfOp = (ins, _at, ctx) => {
  const x = req(ins, 0, ctx);
  const target = intsOf(reqConst(ins, 1, ctx, 'shape'));
  const shape = broadcastShapes(logicalShape(x), target, ctx.what);
  let t = logical(x, ctx);
  if (t.rank < shape.length) t = tf.reshape(t, [...new Array<number>(shape.length - t.rank).fill(1), ...t.shape]);
  return [tv(tf.broadcastTo(t, shape))];
};

/** Pads `axis` of `x` by repeating the edge (`edge`) or mirroring without the edge (`reflect`), with slices. */
function padAxis(x: tf.Tensor, axis: number, before: number, after: number, mode: string, ctx: OpContext): tf.Tensor {
  if (before === 0 && after === 0) return x;
  const len = x.shape[axis];
  if (mode === 'reflect' && Math.max(before, after) > len - 1) {
    throw new Error(`${ctx.what}: reflect pad of ${Math.max(before, after)} needs an axis longer than ${len}`);
  }
  const part = (start: number, n: number) => tf.slice(x, x.shape.map((_, d) => (d === axis ? start : 0)), x.shape.map((s, d) => (d === axis ? n : s)));
  const side = (n: number, edge: number, inward: number): tf.Tensor[] => {
    if (n === 0) return [];
    if (mode === 'edge') return new Array<tf.Tensor>(n).fill(part(edge, 1));
    return [tf.reverse(part(inward, n), axis)];
  };
  return tf.concat([...side(before, 0, 1), x, ...side(after, len - 1, len - 1 - after)], axis);
}

const padTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const mode = at.str('mode', 'constant');
  if (!['constant', 'reflect', 'edge'].includes(mode)) throw new Error(`${ctx.what}: Pad mode "${mode}" is not supported`);
  const pads = ctx.opset < 11 ? at.ints('pads') ?? [] : intsOf(reqConst(ins, 1, ctx, 'pads'));
  const value = ctx.opset < 11 ? at.float('value', 0) : ins[2] ? scalarOf(reqConst(ins, 2, ctx, 'value')) : 0;
  if (ins[3]) throw new Error(`${ctx.what}: Pad with axes is not supported`);
  const rank = logicalShape(x).length;
  if (pads.some((p) => p < 0)) throw new Error(`${ctx.what}: negative pads are not supported`);
  const pp = Array.from({ length: rank }, (_, i): [number, number] => [pads[i] ?? 0, pads[i + rank] ?? 0]);
  const nhwc = !isConst(x) && x.nhwc;
  const t = nhwc ? x.t : logical(x, ctx);
  const phys = nhwc ? [0, 2, 3, 1].map((d) => pp[d]) : pp;
  if (mode === 'constant') return [tv(tf.pad(t, phys, value), nhwc)];
  return [tv(phys.reduce((y, [b, a], axis) => padAxis(y, axis, b, a, mode, ctx), t), nhwc)];
};

// --------------------------------------------------------------------------------------------------------------
// reductions and normalisation

function reduceTf(f: (x: tf.Tensor, axes: number[], keep: boolean) => tf.Tensor): TfOp {
  return (ins, at, ctx) => {
    const x = req(ins, 0, ctx);
    const rank = logicalShape(x).length;
    const keep = at.int('keepdims', 1) === 1;
    let axes = axesArg(ins, at, ctx, 1);
    if (!axes || axes.length === 0) {
      if (at.int('noop_with_empty_axes', 0) === 1) return [x];
      axes = Array.from({ length: rank }, (_, i) => i);
    }
    axes = axes.map((a) => normAxis(a, rank, ctx.what));
    if (!isConst(x) && x.nhwc && keep) return [tv(f(x.t, axes.map((a) => physAxis(a)), true), true)];
    return [tv(f(logical(x, ctx), axes, keep))];
  };
}

function softmaxLike(f: (x: tf.Tensor) => tf.Tensor): TfOp {
  return (ins, at, ctx) => {
    const xv = req(ins, 0, ctx);
    const x = logical(xv, ctx);
    if (ctx.opset < 13) {
      const ax = normAxis(at.int('axis', 1), x.rank, ctx.what);
      const y = f(tf.reshape(x, [size(x.shape.slice(0, ax)), size(x.shape.slice(ax))]));
      return [tv(tf.reshape(y, x.shape))];
    }
    const ax = normAxis(at.int('axis', -1), x.rank, ctx.what);
    if (ax === x.rank - 1) return [tv(f(x))];
    const perm = Array.from({ length: x.rank }, (_, i) => i);
    perm[ax] = x.rank - 1;
    perm[x.rank - 1] = ax;
    return [tv(tf.transpose(f(tf.transpose(x, perm)), perm))];
  };
}

const layerNorm: TfOp = (ins, at, ctx) => {
  const x = logical(req(ins, 0, ctx), ctx);
  const ax = normAxis(at.int('axis', -1), x.rank, ctx.what);
  const eps = at.float('epsilon', 1e-5);
  const gamma = ins[1] ? logical(ins[1], ctx) : undefined;
  const beta = ins[2] ? logical(ins[2], ctx) : undefined;
  const last = x.shape[x.rank - 1];
  const stats = ctx.wants(1) || ctx.wants(2);
  if (!stats && ax === x.rank - 1 && [gamma, beta].every((t) => !t || t.size === last)) return [tv(sharedLayerNorm(x, eps, gamma, beta))];
  const axes = Array.from({ length: x.rank - ax }, (_, i) => ax + i);
  const mean = tf.mean(x, axes, true);
  const d = tf.sub(x, mean);
  const variance = tf.mean(tf.square(d), axes, true);
  const invStd = tf.rsqrt(tf.add(variance, eps));
  let y = tf.mul(d, invStd);
  if (gamma) y = tf.mul(y, gamma);
  if (beta) y = tf.add(y, beta);
  return [tv(y), tv(mean), tv(invStd)];
};

const clipTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  let lo = -Infinity;
  let hi = Infinity;
  if (ctx.opset < 11) {
    lo = at.float('min', -Infinity);
    hi = at.float('max', Infinity);
  } else {
    if (ins[1]) lo = scalarOf(reqConst(ins, 1, ctx, 'min'));
    if (ins[2]) hi = scalarOf(reqConst(ins, 2, ctx, 'max'));
  }
  const clip = (t: tf.Tensor) => (lo === 0 && hi === 6 ? tf.relu6(t) : lo === 0 && hi === Infinity ? tf.relu(t) : tf.clipByValue(t, lo, hi));
  // TF.js's wasm ClipByValue reads int32 as float32 (wrong values): clip integers as floats (exact up to 2^24)
  const f = (t: tf.Tensor) => (t.dtype === 'int32' ? tf.cast(clip(tf.cast(t, 'float32')), 'int32') : clip(t));
  if (isConst(x)) return [tv(f(ctx.tensorOf(x)))];
  return [tv(f(x.t), x.nhwc)];
};

const castTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const to = tfDtype(typeOfDataType(at.int('to', 1), ctx.what));
  if (isConst(x)) return [tv(tf.cast(ctx.tensorOf(x), to))];
  return [tv(x.t.dtype === to ? x.t : tf.cast(x.t, to), x.nhwc)];
};

const whereTf: TfOp = (ins, _at, ctx) => {
  const [c, a, b] = [0, 1, 2].map((i) => logical(req(ins, i, ctx), ctx));
  const shape = broadcastShapes(broadcastShapes(c.shape, a.shape, ctx.what), b.shape, ctx.what);
  const bc = (t: tf.Tensor) => (t.shape.join() === shape.join() ? t : tf.broadcastTo(
    t.rank < shape.length ? tf.reshape(t, [...new Array<number>(shape.length - t.rank).fill(1), ...t.shape]) : t, shape));
  return [tv(tf.where(bc(c), bc(a), bc(b)))];
};

const powTf: TfOp = (ins, at, ctx) => {
  const b = ins[1];
  const x = req(ins, 0, ctx);
  const intBase = isConst(x) ? x.type === 'int' : x.t.dtype === 'int32';
  if (!intBase && b && isConst(b) && b.data.length === 1 && b.data[0] === 2) return unaryTf(tf.square)(ins, at, ctx, 1);
  if (!intBase && b && isConst(b) && b.data.length === 1 && b.data[0] === 0.5) return unaryTf(tf.sqrt)(ins, at, ctx, 1);
  // the result has the base's type (an integer base with a float exponent truncates, as numpy's astype)
  return binaryTf((u, v) => (intBase ? tf.cast(tf.pow(tf.cast(u, 'float32'), tf.cast(v, 'float32')), 'int32') : tf.pow(u, tf.cast(v, u.dtype))))(ins, at, ctx, 1);
};

/** Sum, Mean, Max, Min: one or more inputs, broadcast together. */
function variadicTf(f: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, mean = false): TfOp {
  const pair = binaryTf(f);
  return (ins, at, ctx) => {
    const vals = ins.filter((v): v is Val => !!v);
    if (vals.length === 0) throw new Error(`${ctx.what}: no inputs`);
    let acc = vals[0];
    for (const v of vals.slice(1)) acc = pair([acc, v], at, ctx, 1)[0];
    if (mean) acc = unaryTf((t) => tf.div(t, vals.length))([acc], at, ctx, 1)[0];
    return [acc];
  };
}

const dropoutTf: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  checkDropoutInference(ins, at, ctx);
  if (!ctx.wants(1)) return [x];
  if (isConst(x)) return [x, makeConst('bool', x.shape, new Array<number>(size(x.shape)).fill(1))];
  return [x, tv(tf.ones(x.t.shape, 'bool'), x.nhwc)];
};

/** Dropout is the identity at inference; in training mode (opset 12+, a constant input) it is random: refused. */
function checkDropoutInference(ins: Ins, at: Attrs, ctx: OpContext): void {
  const training = ins[2] ? scalarOf(reqConst(ins, 2, ctx, 'training_mode')) !== 0 : false;
  const ratio = ins[1] ? scalarOf(reqConst(ins, 1, ctx, 'ratio')) : at.float('ratio', 0.5);
  if (training && ratio !== 0) {
    throw new Error(`${ctx.what}: Dropout in training mode drops random elements; export the model in eval mode (model.eval())`);
  }
}

/** PRelu: x where x >= 0, else slope * x (slope broadcast to x). */
const preluTf: TfOp = binaryTf((x, slope) => tf.sub(tf.relu(x), tf.mul(slope, tf.relu(tf.neg(x)))));

/** Selu and Elu without a branch (tf.where's gradient through exp(x) of a large x is 0 * inf = NaN). */
function eluLike(alpha: number, gamma: number): (x: tf.Tensor) => tf.Tensor {
  return (x) => {
    const y = tf.add(tf.relu(x), tf.mul(tf.sub(tf.exp(tf.minimum(x, 0)), 1), alpha));
    return gamma === 1 ? y : tf.mul(y, gamma);
  };
}

const tileTf: TfOp = (ins, _at, ctx) => {
  const x = req(ins, 0, ctx);
  const reps = intsOf(reqConst(ins, 1, ctx, 'repeats'));
  if (reps.length !== logicalShape(x).length) throw new Error(`${ctx.what}: ${reps.length} repeats for rank ${logicalShape(x).length}`);
  // the result's size is checked before it is allocated (a tiny file can ask to tile a constant 1e9 times)
  checkConstShape(logicalShape(x).map((d, i) => d * reps[i]), 'float', ctx.what, !isConst(x));
  if (!isConst(x) && x.nhwc) return [tv(tf.tile(x.t, [0, 2, 3, 1].map((d) => reps[d])), true)];
  return [tv(tf.tile(logical(x, ctx), reps))];
};

/** InstanceNormalization: each (image, channel) normalised over its spatial axes, then scaled and shifted. */
const instanceNorm: TfOp = (ins, at, ctx) => {
  const x = req(ins, 0, ctx);
  const [scale, bias] = [1, 2].map((i) => reqConst(ins, i, ctx, 'InstanceNormalization parameter'));
  const eps = at.float('epsilon', 1e-5);
  const rank = logicalShape(x).length;
  if (rank < 3) throw new Error(`${ctx.what}: expected [N, C, spatial...], got rank ${rank}`);
  const nhwc = rank === 4;
  const xt = nhwc ? toNHWC(x, ctx) : logical(x, ctx);
  const axes = nhwc ? [1, 2] : Array.from({ length: rank - 2 }, (_, i) => i + 2);
  const pshape = nhwc ? [scale.data.length] : [scale.data.length, ...new Array<number>(rank - 2).fill(1)];
  const { mean, variance } = tf.moments(xt, axes, true);
  const y = tf.mul(tf.sub(xt, mean), tf.rsqrt(tf.add(variance, eps)));
  const sc = ctx.tensorOf(scale, `in${rank}`, (c) => ({ ...c, shape: pshape }));
  const bi = ctx.tensorOf(bias, `in${rank}`, (c) => ({ ...c, shape: pshape }));
  return [tv(tf.add(tf.mul(y, sc), bi), nhwc)];
};

// --------------------------------------------------------------------------------------------------------------
// JS implementations for constant inputs

const constantJs: JsOp = (_ins, at, ctx) => {
  const t = at.get('value');
  if (t?.t) return [ctx.decodeAttrTensor(t)];
  if (at.has('value_float')) return [makeConst('float', [], [at.float('value_float', 0)])];
  if (at.has('value_floats')) {
    const v = at.get('value_floats')!.floats;
    return [makeConst('float', [v.length], v)];
  }
  if (at.has('value_int')) return [makeConst('int', [], [at.int('value_int', 0)])];
  if (at.has('value_ints')) {
    const v = at.ints('value_ints')!;
    return [makeConst('int', [v.length], v)];
  }
  throw new Error(`${ctx.what}: Constant without a supported value attribute`);
};

const castJs: JsOp = (ins, at, ctx) => {
  const x = reqConst(ins, 0, ctx, 'input');
  const type = typeOfDataType(at.int('to', 1), ctx.what);
  const f = type === 'float' ? (v: number) => v : type === 'bool' ? (v: number) => (v !== 0 ? 1 : 0) : Math.trunc;
  return [jsElementwise([x], type, f, ctx.what)];
};

const reshapeJs: JsOp = (ins, at, ctx) => {
  const x = reqConst(ins, 0, ctx, 'data');
  const target = intsOf(reqConst(ins, 1, ctx, 'shape'));
  return [{ ...x, shape: reshapeTarget(x.shape, target, at.int('allowzero', 0) === 1, ctx.what) }];
};

const js: Record<string, JsOp> = {
  Constant: constantJs,
  Identity: (ins, _at, ctx) => [reqConst(ins, 0, ctx, 'input')],
  Dropout: (ins, at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'input');
    checkDropoutInference(ins, at, ctx);
    return ctx.wants(1) ? [x, makeConst('bool', x.shape, new Array<number>(size(x.shape)).fill(1))] : [x];
  },
  Cast: castJs,
  Reshape: reshapeJs,
  Flatten: (ins, at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'input');
    const ax = at.int('axis', 1) < 0 ? at.int('axis', 1) + x.shape.length : at.int('axis', 1);
    return [{ ...x, shape: [size(x.shape.slice(0, ax)), size(x.shape.slice(ax))] }];
  },
  Squeeze: (ins, at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'input');
    return [{ ...x, shape: squeezeShape(x.shape, axesArg(ins, at, ctx, 1), ctx.what) }];
  },
  Unsqueeze: (ins, at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'input');
    const axes = axesArg(ins, at, ctx, 1);
    if (!axes) throw new Error(`${ctx.what}: Unsqueeze without axes`);
    return [{ ...x, shape: unsqueezeShape(x.shape, axes, ctx.what) }];
  },
  Gather: (ins, at, ctx) => [jsGather(reqConst(ins, 0, ctx, 'data'), reqConst(ins, 1, ctx, 'indices'), at.int('axis', 0), ctx.what)],
  Concat: (ins, at, ctx) => [jsConcat(ins.filter((v): v is Const => !!v), at.int('axis', 0), ctx.what)],
  Slice: (ins, at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'data');
    return [jsSlice(x, sliceArgs(ins, at, ctx, x.shape))];
  },
  Transpose: (ins, at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'data');
    const r = x.shape.length;
    return [jsTranspose(x, at.ints('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i))];
  },
  Expand: (ins, _at, ctx) => {
    const x = reqConst(ins, 0, ctx, 'input');
    const shape = broadcastShapes(x.shape, intsOf(reqConst(ins, 1, ctx, 'shape')), ctx.what);
    checkConstShape(shape, x.type, ctx.what);
    return [jsElementwise([x, makeConst('int', shape, new Array<number>(size(shape)).fill(0))], x.type, (a) => a, ctx.what)];
  },
  ConstantOfShape: (ins, at, ctx) => {
    const shape = intsOf(reqConst(ins, 0, ctx, 'shape'));
    const v = at.get('value')?.t ? ctx.decodeAttrTensor(at.get('value')!) : makeConst('float', [1], [0]);
    checkConstShape(shape, v.type, ctx.what);
    return [makeConst(v.type, shape, new Array<number>(size(shape)).fill(v.data[0]))];
  },
  Range: (ins, _at, ctx) => {
    const [s, l, d] = [0, 1, 2].map((i) => reqConst(ins, i, ctx, 'range argument'));
    const start = scalarOf(s);
    const delta = scalarOf(d);
    const n = Math.max(Math.ceil((scalarOf(l) - start) / delta), 0);
    if (!Number.isFinite(n)) throw new Error(`${ctx.what}: Range from ${start} to ${scalarOf(l)} by ${delta} has no finite length`);
    checkConstShape([n], s.type, ctx.what);
    return [makeConst(s.type, [n], Array.from({ length: n }, (_, i) => start + i * delta))];
  },
  Add: binaryJs((a, b) => a + b),
  Sub: binaryJs((a, b) => a - b),
  Mul: binaryJs((a, b) => a * b),
  Div: binaryJs((a, b) => a / b, (a, b) => Math.trunc(a / b)),
  Pow: (ins, _at, ctx) => {
    const [a, b] = [reqConst(ins, 0, ctx, 'X'), reqConst(ins, 1, ctx, 'Y')];
    return [jsElementwise([a, b], a.type, a.type === 'float' ? Math.pow : (u, v) => Math.trunc(Math.pow(u, v)), ctx.what)];
  },
  Min: variadicJs(Math.min),
  Max: variadicJs(Math.max),
  Sum: variadicJs((a, b) => a + b),
  Mean: variadicJs((a, b) => a + b, true),
  Equal: (ins, _at, ctx) => [jsElementwise([reqConst(ins, 0, ctx, 'A'), reqConst(ins, 1, ctx, 'B')], 'bool', (a, b) => (a === b ? 1 : 0), ctx.what)],
  Less: (ins, _at, ctx) => [jsElementwise([reqConst(ins, 0, ctx, 'A'), reqConst(ins, 1, ctx, 'B')], 'bool', (a, b) => (a < b ? 1 : 0), ctx.what)],
  Greater: (ins, _at, ctx) => [jsElementwise([reqConst(ins, 0, ctx, 'A'), reqConst(ins, 1, ctx, 'B')], 'bool', (a, b) => (a > b ? 1 : 0), ctx.what)],
  Not: unaryJs((a) => (a ? 0 : 1)),
  Neg: unaryJs((a) => -a),
  Abs: unaryJs(Math.abs),
  Sqrt: unaryJs(Math.sqrt),
  Floor: unaryJs(Math.floor),
  Ceil: unaryJs(Math.ceil),
  Where: (ins, _at, ctx) => {
    const [c, a, b] = [0, 1, 2].map((i) => reqConst(ins, i, ctx, 'Where argument'));
    return [jsElementwise([c, a, b], resultType(a, b), (cv, av, bv) => (cv ? av : bv), ctx.what)];
  },
};

const tfOps: Record<string, TfOp> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  MaxPool: pool('max'),
  AveragePool: pool('avg'),
  GlobalAveragePool: globalAvgPool,
  GlobalMaxPool: globalMaxPool,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  Relu: unaryTf(tf.relu),
  LeakyRelu: (ins, at, ctx) => unaryTf((x) => tf.leakyRelu(x, at.float('alpha', 0.01)))(ins, at, ctx, 1),
  Elu: (ins, at, ctx) => {
    const alpha = at.float('alpha', 1);
    return unaryTf(alpha === 1 ? tf.elu : eluLike(alpha, 1))(ins, at, ctx, 1);
  },
  Selu: (ins, at, ctx) => unaryTf(eluLike(at.float('alpha', 1.67326319217681884765625), at.float('gamma', 1.05070102214813232421875)))(ins, at, ctx, 1),
  Softplus: unaryTf(tf.softplus),
  PRelu: preluTf,
  Clip: clipTf,
  Sigmoid: unaryTf(tf.sigmoid),
  HardSigmoid: (ins, at, ctx) => unaryTf((x) => tf.clipByValue(tf.add(tf.mul(x, at.float('alpha', 0.2)), at.float('beta', 0.5)), 0, 1))(ins, at, ctx, 1),
  HardSwish: unaryTf((x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6))),
  Tanh: unaryTf(tf.tanh),
  Erf: unaryTf(tf.erf),
  Exp: unaryTf(tf.exp),
  Log: unaryTf(tf.log),
  Sqrt: unaryTf(tf.sqrt),
  Reciprocal: unaryTf(tf.reciprocal),
  Neg: unaryTf(tf.neg),
  Abs: unaryTf(tf.abs),
  Gelu: (ins, at, ctx) => unaryTf((x) => (at.str('approximate', 'none') === 'tanh'
    ? tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))), 1))
    : gelu(x)))(ins, at, ctx, 1),
  Identity: (ins, _at, ctx) => [req(ins, 0, ctx)],
  Dropout: dropoutTf,
  Add: binaryTf(tf.add),
  Sub: binaryTf(tf.sub),
  Mul: binaryTf(tf.mul),
  Div: binaryTf(tf.div),
  Pow: powTf,
  Min: variadicTf(tf.minimum),
  Max: variadicTf(tf.maximum),
  Sum: variadicTf(tf.add),
  Mean: variadicTf(tf.add, true),
  Equal: binaryTf(tf.equal),
  Where: whereTf,
  Cast: castTf,
  Gemm: gemm,
  MatMul: matMul,
  Flatten: flattenTf,
  Reshape: reshapeTf,
  Transpose: transposeTf,
  Concat: concatTf,
  Gather: gatherTf,
  Slice: sliceTf,
  Split: splitTf,
  Squeeze: squeezeTf,
  Unsqueeze: unsqueezeTf,
  Expand: expandTf,
  Tile: tileTf,
  Pad: padTf,
  ReduceMean: reduceTf((x, a, k) => tf.mean(x, a, k)),
  ReduceSum: reduceTf((x, a, k) => tf.sum(x, a, k)),
  ReduceMax: reduceTf((x, a, k) => tf.max(x, a, k)),
  Softmax: softmaxLike((x) => tf.softmax(x)),
  LogSoftmax: softmaxLike((x) => tf.logSoftmax(x)),
  LayerNormalization: layerNorm,
};

/** Ops that take run-time tensors but produce compile-time values. */
const shapeOps: Record<string, (ins: Ins, at: Attrs, ctx: OpContext) => Const[]> = {
  Shape: (ins, at, ctx) => {
    const s = logicalShape(req(ins, 0, ctx));
    const r = s.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const out = s.slice(clamp(at.int('start', 0)), clamp(at.int('end', r)));
    return [makeConst('int', [out.length], out)];
  },
  Size: (ins, _at, ctx) => [makeConst('int', [], [size(logicalShape(req(ins, 0, ctx)))])],
};

export const OPS = { js, tf: tfOps, shape: shapeOps };

export function isSupported(opType: string): boolean {
  return Object.hasOwn(tfOps, opType) || Object.hasOwn(js, opType) || Object.hasOwn(shapeOps, opType);
}
