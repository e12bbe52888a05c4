/**
 * Compile-time tensors: initializers, Constant nodes, and everything computed from them and from tensor shapes
 * (the int64 shape arithmetic PyTorch exports for a dynamic batch axis). These are evaluated in plain JS, so the
 * differentiable graph only ever sees real TF.js tensors.
 */
import type { ModelFolder } from '../folder';
import { DT, TensorProto, toNum } from './proto';

export type ConstType = 'float' | 'int' | 'bool';

/** A constant tensor held in JS. Ints are exact up to 2^53 (int64 shape values are far below). */
export interface Const {
  type: ConstType;
  shape: number[];
  data: Float32Array | Float64Array;
}

export function size(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Most bytes one tensor of a model may take, read or computed at load time: NEURON_LENS_MAX_MODEL_BYTES (default
 * 4 GiB), the budget of a whole model, since no tensor of a model is larger than the model.
 */
export function maxConstBytes(): number {
  const v = Number(process.env.NEURON_LENS_MAX_MODEL_BYTES);
  return v > 0 ? v : 4 * 2 ** 30;
}

const showBytes = (b: number) => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(1)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/**
 * Most bytes of one constant computed at load time (ConstantOfShape, Range, Expand, folded arithmetic): such
 * constants are shape arithmetic and small derived tensors, and are built in plain JS arrays first (several
 * bytes per value), so their budget is a fraction of a model's.
 */
export const MAX_FOLDED_BYTES = 256 * 2 ** 20;

/**
 * Checks the shape of a constant before anything of its size is allocated (a ~700-byte file can ask for
 * ConstantOfShape([1e9])): non-negative integer dimensions, and at most {@link MAX_FOLDED_BYTES} bytes as held here
 * (float32 floats, float64 ints), or {@link maxConstBytes} for a tensor `stored` in the file. Returns the element count.
 */
export function checkConstShape(shape: number[], type: ConstType, what: string, stored = false): number {
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${what}: a tensor of shape [${shape}]: every dimension must be a non-negative integer`);
  const n = size(shape);
  const bytes = n * (type === 'float' ? 4 : 8);
  const limit = stored ? maxConstBytes() : Math.min(MAX_FOLDED_BYTES, maxConstBytes());
  if (!(bytes <= limit)) {
    const whose = stored ? 'one tensor of a model may take (NEURON_LENS_MAX_MODEL_BYTES)' : 'a constant computed at load time may take';
    throw new Error(`${what}: a tensor of shape [${shape}] would take ${showBytes(bytes)}, more than the ${showBytes(limit)} ${whose}`);
  }
  return n;
}

/** Zeroed storage for a constant of `shape`, checked first (see {@link checkConstShape}). */
function allocConst(type: ConstType, shape: number[], what: string): Float32Array | Float64Array {
  const n = checkConstShape(shape, type, what);
  return type === 'float' ? new Float32Array(n) : new Float64Array(n);
}

export function typeOfDataType(dt: number, what: string): ConstType {
  switch (dt) {
    // half-precision values are widened to float32 (the importer computes in float32)
    case DT.FLOAT: case DT.DOUBLE: case DT.FLOAT16: case DT.BFLOAT16: return 'float';
    case DT.UINT8: case DT.INT8: case DT.UINT16: case DT.INT16: case DT.INT32: case DT.INT64:
    case DT.UINT32: case DT.UINT64: return 'int';
    case DT.BOOL: return 'bool';
    default: throw new Error(`${what}: unsupported ONNX data type ${dt}`);
  }
}

export function makeConst(type: ConstType, shape: number[], values: ArrayLike<number>): Const {
  const data = type === 'float' ? Float32Array.from(values) : Float64Array.from(values);
  if (data.length !== size(shape)) throw new Error(`internal: ${data.length} values for shape [${shape}]`);
  return { type, shape, data };
}

export function scalarOf(c: Const): number {
  if (c.data.length !== 1) throw new Error(`expected a scalar, got shape [${c.shape}]`);
  return c.data[0];
}

export function intsOf(c: Const): number[] {
  return Array.from(c.data);
}

/** An IEEE half-precision (float16) or bfloat16 value, from its 16 bits. */
function halfBits(bits: number, dataType: number): number {
  if (dataType === DT.BFLOAT16) return new Float32Array(new Uint32Array([bits << 16]).buffer)[0];
  const exp = (bits >> 10) & 0x1f;
  const frac = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Reads external tensor data through the model folder: inside it, a regular file, its bytes owned by this tensor alone. */
function readExternal(t: TensorProto, folder: ModelFolder, what: string, bytes: number): Uint8Array {
  const info = new Map(t.externalData.map((e) => [e.key, e.value]));
  const loc = info.get('location');
  if (!loc) throw new Error(`${what}: external data without a location`);
  const num = (key: string): number | undefined => {
    const v = info.get(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new Error(`${what}: external data ${key} "${v}" is not a byte count`);
    return n;
  };
  const offset = num('offset') ?? 0;
  const length = num('length') ?? bytes;
  if (length !== bytes) throw new Error(`${what}: external data length ${length} differs from the ${bytes} bytes its shape and type need`);
  const f = folder.open(loc, 'external data', what);
  try {
    if (offset + length > f.size) throw new Error(`${what}: external data range ${offset}+${length} outside ${f.path} (${f.size} bytes)`);
    f.claim(offset, offset + length, `tensor "${t.name}"`);
    return f.read(offset, length, what);
  } finally {
    f.close();
  }
}

/** Decodes a TensorProto (initializer or attribute) into a {@link Const}. */
export function decodeTensor(t: TensorProto, what: string, folder: ModelFolder): Const {
  const shape = t.dims.map(toNum);
  const type = typeOfDataType(t.dataType, what);
  const n = checkConstShape(shape, type, what, true);
  const bytesPer: Record<number, number> = {
    [DT.FLOAT]: 4, [DT.DOUBLE]: 8, [DT.UINT8]: 1, [DT.INT8]: 1, [DT.UINT16]: 2, [DT.INT16]: 2, [DT.INT32]: 4,
    [DT.INT64]: 8, [DT.UINT32]: 4, [DT.UINT64]: 8, [DT.BOOL]: 1, [DT.FLOAT16]: 2, [DT.BFLOAT16]: 2,
  };
  const bp = bytesPer[t.dataType];
  let raw = t.rawData;
  if (t.dataLocation === 1) {
    if (!Number.isSafeInteger(n * bp) || n < 0) throw new Error(`${what}: bad shape [${shape}]`);
    raw = readExternal(t, folder, what, n * bp);
  }
  if (raw && raw.length > 0) {
    if (raw.length !== n * bp) {
      throw new Error(`${what}: raw data has ${raw.length} bytes, shape [${shape}] needs ${n * bp}`);
    }
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (t.dataType === DT.FLOAT) {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
      return { type, shape, data: out };
    }
    const out = type === 'float' ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = i * bp;
      switch (t.dataType) {
        case DT.DOUBLE: out[i] = dv.getFloat64(o, true); break;
        case DT.UINT8: case DT.BOOL: out[i] = dv.getUint8(o); break;
        case DT.INT8: out[i] = dv.getInt8(o); break;
        case DT.UINT16: out[i] = dv.getUint16(o, true); break;
        case DT.INT16: out[i] = dv.getInt16(o, true); break;
        case DT.INT32: out[i] = dv.getInt32(o, true); break;
        case DT.UINT32: out[i] = dv.getUint32(o, true); break;
        case DT.INT64: out[i] = Number(dv.getBigInt64(o, true)); break;
        case DT.UINT64: out[i] = Number(dv.getBigUint64(o, true)); break;
        case DT.FLOAT16: case DT.BFLOAT16: out[i] = halfBits(dv.getUint16(o, true), t.dataType); break;
      }
    }
    return { type, shape, data: out };
  }
  let vals: ArrayLike<number>;
  switch (t.dataType) {
    case DT.FLOAT: vals = t.floatData; break;
    case DT.DOUBLE: vals = t.doubleData; break;
    case DT.INT64: vals = t.int64Data.map(toNum); break;
    case DT.UINT32: case DT.UINT64: vals = t.uint64Data.map(toNum); break;
    // half-precision values are stored as their bits in int32_data
    case DT.FLOAT16: case DT.BFLOAT16: vals = t.int32Data.map((b) => halfBits(b, t.dataType)); break;
    default: vals = t.int32Data;
  }
  if (vals.length !== n) throw new Error(`${what}: ${vals.length} values for shape [${shape}]`);
  return makeConst(type, shape, vals);
}

// ---------------------------------------------------------------------------------------------------------------
// Shape helpers and the JS implementations of the shape-arithmetic ops.

export function broadcastShapes(a: number[], b: number[], what: string): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw new Error(`${what}: shapes [${a}] and [${b}] do not broadcast`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Index into `shape` (broadcast to `outShape`) for each flat output index. */
function broadcastIndex(shape: number[], outShape: number[]): (i: number) => number {
  const os = strides(outShape);
  const is = strides(shape);
  const off = outShape.length - shape.length;
  return (i: number) => {
    let idx = 0;
    for (let d = 0; d < outShape.length; d++) {
      const coord = Math.floor(i / os[d]) % outShape[d];
      const sd = d - off;
      if (sd >= 0 && shape[sd] !== 1) idx += coord * is[sd];
    }
    return idx;
  };
}

export function jsElementwise(
  cs: Const[], type: ConstType, f: (...v: number[]) => number, what: string,
): Const {
  let shape = cs[0].shape;
  for (const c of cs.slice(1)) shape = broadcastShapes(shape, c.shape, what);
  const out = allocConst(type, shape, what);
  const n = out.length;
  const idx = cs.map((c) => broadcastIndex(c.shape, shape));
  const args = new Array<number>(cs.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < cs.length; k++) args[k] = cs[k].data[idx[k](i)];
    out[i] = f(...args);
  }
  return { type, shape, data: out };
}

export function normAxis(axis: number, rank: number, what: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= Math.max(rank, 1)) throw new Error(`${what}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Gather along `axis` with arbitrary-shaped integer indices (numpy.take semantics). */
export function jsGather(c: Const, indices: Const, axis: number, what: string): Const {
  const ax = normAxis(axis, c.shape.length, what);
  const outer = size(c.shape.slice(0, ax));
  const dim = c.shape[ax];
  const inner = size(c.shape.slice(ax + 1));
  const ids = Array.from(indices.data, (v) => (v < 0 ? v + dim : v));
  for (const i of ids) if (i < 0 || i >= dim) throw new Error(`${what}: index ${i} out of range [0,${dim})`);
  const shape = [...c.shape.slice(0, ax), ...indices.shape, ...c.shape.slice(ax + 1)];
  const out = allocConst(c.type, shape, what);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const i of ids) {
      const base = (a * dim + i) * inner;
      for (let k = 0; k < inner; k++) out[o++] = c.data[base + k];
    }
  }
  return { type: c.type, shape, data: out };
}

export function jsConcat(cs: Const[], axis: number, what: string): Const {
  const rank = cs[0].shape.length;
  const ax = normAxis(axis, rank, what);
  const outer = size(cs[0].shape.slice(0, ax));
  const shape = [...cs[0].shape];
  shape[ax] = cs.reduce((s, c) => s + c.shape[ax], 0);
  const type = cs[0].type;
  const out = allocConst(type, shape, what);
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const c of cs) {
      const chunk = size(c.shape.slice(ax));
      for (let k = 0; k < chunk; k++) out[o++] = c.data[a * chunk + k];
    }
  }
  return { type, shape, data: out };
}

/** ONNX Slice parameters normalised for one tensor shape: start and step per axis and the output shape. */
export function sliceParams(
  shape: number[], starts: number[], ends: number[], axes: number[] | undefined, steps: number[] | undefined,
  what: string,
): { begin: number[]; step: number[]; outShape: number[] } {
  const begin = shape.map(() => 0);
  const step = shape.map(() => 1);
  const outShape = [...shape];
  const ax = axes ?? starts.map((_, i) => i);
  ax.forEach((a0, i) => {
    const a = normAxis(a0, shape.length, what);
    const dim = shape[a];
    const st = steps?.[i] ?? 1;
    if (st === 0) throw new Error(`${what}: slice step 0`);
    let s = starts[i];
    let e = ends[i];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (st > 0) {
      s = Math.min(Math.max(s, 0), dim);
      e = Math.min(Math.max(e, 0), dim);
    } else {
      s = Math.min(Math.max(s, 0), dim - 1);
      e = Math.min(Math.max(e, -1), dim - 1);
    }
    begin[a] = s;
    step[a] = st;
    outShape[a] = Math.max(0, Math.ceil((e - s) / st));
  });
  return { begin, step, outShape };
}

export function jsSlice(c: Const, p: { begin: number[]; step: number[]; outShape: number[] }): Const {
  const n = size(p.outShape);
  const os = strides(p.outShape);
  const is = strides(c.shape);
  const out = c.type === 'float' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let idx = 0;
    for (let d = 0; d < os.length; d++) {
      const coord = Math.floor(i / os[d]) % p.outShape[d];
      idx += (p.begin[d] + coord * p.step[d]) * is[d];
    }
    out[i] = c.data[idx];
  }
  return { type: c.type, shape: p.outShape, data: out };
}

export function jsTranspose(c: Const, perm: number[]): Const {
  const shape = perm.map((p) => c.shape[p]);
  const n = size(shape);
  const os = strides(shape);
  const is = strides(c.shape);
  const out = c.type === 'float' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let idx = 0;
    for (let d = 0; d < shape.length; d++) idx += (Math.floor(i / os[d]) % shape[d]) * is[perm[d]];
    out[i] = c.data[idx];
  }
  return { type: c.type, shape, data: out };
}

/** ONNX Reshape target: 0 copies the input dim (unless allowzero), -1 is inferred. */
export function reshapeTarget(inShape: number[], target: number[], allowZero: boolean, what: string): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? inShape[i] : d));
  const neg = out.filter((d) => d === -1).length;
  if (neg > 1) throw new Error(`${what}: more than one -1 in shape [${target}]`);
  const total = size(inShape);
  if (neg === 1) {
    const known = size(out.filter((d) => d !== -1));
    if (known === 0 || total % known !== 0) throw new Error(`${what}: cannot reshape [${inShape}] to [${target}]`);
    out[out.indexOf(-1)] = total / known;
  }
  if (size(out) !== total) throw new Error(`${what}: cannot reshape [${inShape}] to [${target}]`);
  return out;
}

export function unsqueezeShape(shape: number[], axes: number[], what: string): number[] {
  const rank = shape.length + axes.length;
  const ax = new Set(axes.map((a) => normAxis(a, rank, what)));
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) out.push(ax.has(i) ? 1 : shape[k++]);
  return out;
}

export function squeezeShape(shape: number[], axes: number[] | undefined, what: string): number[] {
  if (!axes) return shape.filter((d) => d !== 1);
  const ax = new Set(axes.map((a) => normAxis(a, shape.length, what)));
  for (const a of ax) if (shape[a] !== 1) throw new Error(`${what}: cannot squeeze axis ${a} of size ${shape[a]}`);
  return shape.filter((_, i) => !ax.has(i));
}
