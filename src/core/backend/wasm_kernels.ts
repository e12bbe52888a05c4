/**
 * Gradient kernels the TF.js 4.22 wasm backend lacks or gets wrong, registered on 'wasm'.
 *
 * Input gradients of convolutions are themselves convolutions: the zero-dilated, padded output
 * gradient convolved with the flipped (and, for conv2d, transposed) filter. They run on the wasm
 * backend's XNNPACK forward kernels. Every kernel here composes other wasm kernels by calling their
 * kernel functions directly (TensorInfo in, TensorInfo out) and frees each intermediate, so no
 * tensor or wasm buffer leaks. See shared/tfjs-facts.md for the measurements behind each choice.
 */
import {
  backend_util,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter,
  DepthwiseConv2dNativeBackpropInput,
  getKernel,
  Identity,
  KernelConfig,
  KernelFunc,
  MaxPoolGrad,
  Slice,
  slice_util,
  SplitV,
  NamedAttrMap,
  registerKernel,
  TensorInfo,
  unregisterKernel,
  Unpack,
  UnsortedSegmentSum,
  util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Inputs = Record<string, TensorInfo>;

/** Run another wasm kernel directly; returns its single output. */
function run(backend: BackendWasm, kernelName: string, inputs: Inputs, attrs: NamedAttrMap = {}): TensorInfo {
  const k = getKernel(kernelName, 'wasm');
  if (!k) throw new Error(`wasm kernel ${kernelName} is not registered`);
  const out = k.kernelFunc({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error(`wasm kernel ${kernelName} returned ${out.length} outputs, expected 1`);
  return out;
}

function free(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return run(backend, 'Reshape', { x }, { shape });
}

/**
 * dy [N, H, W, C] -> zero-dilated by `strides` (s-1 zeros between rows/columns) and placed at offset
 * `before` inside a zero [N, target[0], target[1], C] (negative offsets and overhangs are cropped).
 * Returns a new TensorInfo the caller owns.
 */
function dilateAndPad(backend: BackendWasm, dy: TensorInfo, strides: [number, number], before: [number, number], target: [number, number]): TensorInfo {
  const [n, h, w, c] = dy.shape;
  const [sh, sw] = strides;
  let cur: TensorInfo;
  if (sh > 1 || sw > 1) {
    const r = reshape(backend, dy, [n, h, 1, w, 1, c]);
    const p = run(backend, 'PadV2', { x: r }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    free(backend, r);
    cur = reshape(backend, p, [n, h * sh, w * sw, c]);
    free(backend, p);
  } else {
    cur = reshape(backend, dy, dy.shape); // a new reference, no copy
  }
  const len = [cur.shape[1], cur.shape[2]];
  const cropBefore = [0, 1].map((i) => Math.max(0, -before[i]));
  const padBefore = [0, 1].map((i) => Math.max(0, before[i]));
  const after = [0, 1].map((i) => target[i] - before[i] - len[i]);
  const cropAfter = after.map((a) => Math.max(0, -a));
  const padAfter = after.map((a) => Math.max(0, a));
  if (cropBefore.some((v) => v > 0) || cropAfter.some((v) => v > 0)) {
    const size = [n, len[0] - cropBefore[0] - cropAfter[0], len[1] - cropBefore[1] - cropAfter[1], c];
    const s = run(backend, 'Slice', { x: cur }, { begin: [0, cropBefore[0], cropBefore[1], 0], size });
    free(backend, cur);
    cur = s;
  }
  if (padBefore.some((v) => v > 0) || padAfter.some((v) => v > 0)) {
    const paddings = [[0, 0], [padBefore[0], padAfter[0]], [padBefore[1], padAfter[1]], [0, 0]];
    const p = run(backend, 'PadV2', { x: cur }, { paddings, constantValue: 0 });
    free(backend, cur);
    cur = p;
  }
  return cur;
}

/** Where the input gradient's correlation reads the padded dy: offsets and padded size. */
function backpropGeometry(ci: backend_util.Conv2DInfo): { before: [number, number]; target: [number, number] } {
  const before: [number, number] = [ci.effectiveFilterHeight - 1 - ci.padInfo.top, ci.effectiveFilterWidth - 1 - ci.padInfo.left];
  const target: [number, number] = [ci.inHeight + ci.effectiveFilterHeight - 1, ci.inWidth + ci.effectiveFilterWidth - 1];
  return { before, target };
}

function assertChannelsLast(kernel: string, dataFormat: unknown): void {
  if (dataFormat !== undefined && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`${kernel} on wasm supports only NHWC data, got dataFormat ${String(dataFormat)}`);
  }
}

// ---- DepthwiseConv2dNativeBackpropInput -------------------------------------------------------

const depthwiseBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, inputShape } = attrs as unknown as {
    strides: [number, number] | number; dilations: [number, number] | number; pad: backend_util.ExplicitPadding | 'same' | 'valid' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
  };
  const ci = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, dilations, pad, dimRoundingMode, true);
  const [fh, fw, inC, mult] = filter.shape;
  const { before, target } = backpropGeometry(ci);
  const padded = dilateAndPad(b, dy, [ci.strideHeight, ci.strideWidth], before, target);
  const flipped = run(b, 'Reverse', { x: filter }, { dims: [0, 1] });
  const f2 = reshape(b, flipped, [fh, fw, inC * mult, 1]);
  free(b, flipped);
  const conv = run(b, 'DepthwiseConv2dNative', { x: padded, filter: f2 }, {
    strides: [1, 1], pad: 'valid', dilations: [ci.dilationHeight, ci.dilationWidth], dataFormat: 'NHWC',
  });
  free(b, padded, f2);
  if (mult === 1) return conv;
  const r = reshape(b, conv, [ci.batchSize, ci.inHeight, ci.inWidth, inC, mult]);
  free(b, conv);
  const out = run(b, 'Sum', { x: r }, { axis: 4, keepDims: false });
  free(b, r);
  return out;
};

// ---- Conv2DBackpropInput -----------------------------------------------------------------------

/** Kept only so benchmarks can compare: ours was faster on every shape measured (bench/wasm-kernels.ts). */
let stockConv2DBackpropInput: KernelFunc | null = null;

/** One stride phase along an axis: the dx rows r with (r + padBefore) % s == phase. */
interface Phase {
  phase: number;
  /** Filter taps phase, phase + s, ... (count). */
  taps: number;
  /** First index m (r = m * s + phase - padBefore) and how many rows. */
  m0: number;
  count: number;
}

function phases(inSize: number, k: number, s: number, padBefore: number): Phase[] {
  const out: Phase[] = [];
  for (let phase = 0; phase < s; phase++) {
    const taps = Math.max(0, Math.ceil((k - phase) / s));
    const m0 = Math.ceil((padBefore - phase) / s);
    const m1 = Math.floor((inSize - 1 + padBefore - phase) / s);
    out.push({ phase, taps, m0, count: Math.max(0, m1 - m0 + 1) });
  }
  return out;
}

/**
 * Strided input gradient by stride phases: dx rows with the same (r + pad) mod s see only the filter
 * taps phase, phase + s, ..., so each phase is a stride-1 correlation of the (undilated, padded) dy
 * with that flipped, transposed sub-filter. The s*s phase results are interleaved into dx. Same work
 * as the forward conv, where correlating the zero-dilated dy costs s*s times more.
 */
function conv2DBackpropInputPhased(b: BackendWasm, dy: TensorInfo, filter: TensorInfo, ci: backend_util.Conv2DInfo): TensorInfo {
  const [fh, fw, inC, outC] = filter.shape;
  const sh = ci.strideHeight;
  const sw = ci.strideWidth;
  const ph = phases(ci.inHeight, fh, sh, ci.padInfo.top);
  const pw = phases(ci.inWidth, fw, sw, ci.padInfo.left);
  const fv = b.readSync(filter.dataId) as Float32Array;
  const results: Array<{ h: Phase; w: Phase; out: TensorInfo }> = [];
  for (const h of ph) {
    for (const w of pw) {
      if (h.taps === 0 || w.taps === 0 || h.count === 0 || w.count === 0) continue;
      // Sub-filter [h.taps, w.taps, outC, inC]: taps reversed, in/out channels swapped.
      const sub = b.makeOutput([h.taps, w.taps, outC, inC], 'float32');
      const sv = b.typedArrayFromHeap(sub) as Float32Array;
      for (let a = 0; a < h.taps; a++) {
        const kh = h.phase + (h.taps - 1 - a) * sh;
        for (let c = 0; c < w.taps; c++) {
          const kw = w.phase + (w.taps - 1 - c) * sw;
          const src = (kh * fw + kw) * inC * outC;
          const dst = (a * w.taps + c) * outC * inC;
          for (let i = 0; i < inC; i++) {
            for (let o = 0; o < outC; o++) sv[dst + o * inC + i] = fv[src + i * outC + o];
          }
        }
      }
      const padded = dilateAndPad(b, dy, [1, 1], [h.taps - 1 - h.m0, w.taps - 1 - w.m0], [h.count + h.taps - 1, w.count + w.taps - 1]);
      const out = run(b, 'Conv2D', { x: padded, filter: sub }, { strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC' });
      free(b, padded, sub);
      results.push({ h, w, out });
    }
  }
  // No kernel runs below, so heap views stay valid.
  const dx = b.makeOutput([ci.batchSize, ci.inHeight, ci.inWidth, inC], 'float32');
  const dv = b.typedArrayFromHeap(dx) as Float32Array;
  dv.fill(0);
  const H = ci.inHeight;
  const W = ci.inWidth;
  for (const { h, w, out } of results) {
    const ov = b.typedArrayFromHeap(out) as Float32Array;
    for (let n = 0; n < ci.batchSize; n++) {
      for (let i = 0; i < h.count; i++) {
        const r = (h.m0 + i) * sh + h.phase - ci.padInfo.top;
        for (let j = 0; j < w.count; j++) {
          const col = (w.m0 + j) * sw + w.phase - ci.padInfo.left;
          const src = ((n * h.count + i) * w.count + j) * inC;
          const dst = ((n * H + r) * W + col) * inC;
          if (inC >= 32) dv.set(ov.subarray(src, src + inC), dst);
          else for (let c = 0; c < inC; c++) dv[dst + c] = ov[src + c];
        }
      }
    }
  }
  free(b, ...results.map((r) => r.out));
  return dx;
}

const conv2DBackpropInput: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as {
    strides: [number, number] | number; pad: backend_util.ExplicitPadding | 'same' | 'valid' | number; dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
  };
  assertChannelsLast('Conv2DBackpropInput', dataFormat);
  const ci = backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode, false);
  if (ci.strideHeight > 1 || ci.strideWidth > 1) return conv2DBackpropInputPhased(b, dy, filter, ci);
  const { before, target } = backpropGeometry(ci);
  const padded = dilateAndPad(b, dy, [1, 1], before, target);
  const flipped = run(b, 'Reverse', { x: filter }, { dims: [0, 1] });
  const w = run(b, 'Transpose', { x: flipped }, { perm: [0, 1, 3, 2] });
  free(b, flipped);
  const out = run(b, 'Conv2D', { x: padded, filter: w }, { strides: [1, 1], pad: 'valid', dilations: [1, 1], dataFormat: 'NHWC' });
  free(b, padded, w);
  return out;
};

// ---- MaxPoolGrad -------------------------------------------------------------------------------

let stockMaxPoolGrad: KernelFunc | null = null;

/**
 * wasm's MaxPoolGrad starts each window's maximum at 0: windows whose maximum is negative lose their
 * gradient and SAME padding acts as a 0 input. Running it on x - (min(x) - 1) (all values >= 1, the
 * same arg-max in every window) gives the right answer.
 */
const maxPoolGrad: KernelFunc = (args) => {
  const { inputs, backend, attrs } = args;
  const b = backend as BackendWasm;
  const { dy, input, output } = inputs as { dy: TensorInfo; input: TensorInfo; output: TensorInfo };
  if (!stockMaxPoolGrad) throw new Error('MaxPoolGrad: the stock wasm kernel was not found');
  if (util.sizeFromShape(input.shape) === 0) return stockMaxPoolGrad(args);
  const m = run(b, 'Min', { x: input }, { axis: input.shape.map((_, i) => i), keepDims: false });
  const minValue = (b.readSync(m.dataId) as Float32Array)[0];
  free(b, m);
  if (!Number.isFinite(minValue)) {
    throw new Error(`MaxPoolGrad on wasm: the pooled input holds a non-finite value (min ${minValue}); its gradient is undefined`);
  }
  const shift = b.makeOutput([], 'float32');
  (b.typedArrayFromHeap(shift) as Float32Array)[0] = minValue - 1;
  const shifted = run(b, 'Sub', { a: input, b: shift });
  free(b, shift);
  const out = stockMaxPoolGrad({ inputs: { dy, input: shifted, output }, backend, attrs }) as TensorInfo;
  free(b, shifted);
  return out;
};

// ---- UnsortedSegmentSum (gather's gradient) ---------------------------------------------------

const unsortedSegmentSum: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = (attrs as unknown as { numSegments: number }).numSegments;
  const segRank = segmentIds.shape.length;
  if (segRank > x.shape.length || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
  }
  const n = util.sizeFromShape(segmentIds.shape);
  const ids = b.readSync(segmentIds.dataId) as Int32Array;
  for (let i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= numSegments) {
      throw new Error(`UnsortedSegmentSum: segment id ${ids[i]} at position ${i} is outside [0, ${numSegments})`);
    }
  }
  const rest = x.shape.slice(segRank);
  const indices = reshape(b, segmentIds, [n, 1]);
  const updates = reshape(b, x, [n, ...rest]);
  const out = run(b, 'ScatterNd', { indices, updates }, { shape: [numSegments, ...rest] });
  free(b, indices, updates);
  return out;
};

// ---- Conv2DBackpropFilter ---------------------------------------------------------------------

/**
 * dW[kh, kw, ci, co] = sum_{n,i,j} xpad[n, i*s + kh, j*s + kw, ci] * dy[n, i, j, co]: a valid forward
 * conv of xpad^T [ci, Hp, Wp, n] with dy^T [oh, ow, n, co] as the filter, dilated by the stride.
 */
const conv2DBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number; pad: backend_util.ExplicitPadding | 'same' | 'valid' | number; dataFormat: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
  };
  assertChannelsLast('Conv2DBackpropFilter', dataFormat);
  const ci = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode, false);
  const { top, bottom, left, right } = ci.padInfo;
  const xp = top || bottom || left || right
    ? run(b, 'PadV2', { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 })
    : reshape(b, x, x.shape);
  const xt = run(b, 'Transpose', { x: xp }, { perm: [3, 1, 2, 0] });
  free(b, xp);
  const dyt = run(b, 'Transpose', { x: dy }, { perm: [1, 2, 0, 3] });
  const conv = run(b, 'Conv2D', { x: xt, filter: dyt }, {
    strides: [1, 1], pad: 'valid', dilations: [ci.strideHeight, ci.strideWidth], dataFormat: 'NHWC',
  });
  free(b, xt, dyt);
  // conv: [inC, >= fh, >= fw, outC]; rows past the filter size are positions no window reaches.
  const [fh, fw, inC, outC] = filterShape;
  let cropped = conv;
  if (conv.shape[1] !== fh || conv.shape[2] !== fw) {
    cropped = run(b, 'Slice', { x: conv }, { begin: [0, 0, 0, 0], size: [inC, fh, fw, outC] });
    free(b, conv);
  }
  const out = run(b, 'Transpose', { x: cropped }, { perm: [1, 2, 0, 3] });
  free(b, cropped);
  return out;
};

// ---- DepthwiseConv2dNativeBackpropFilter ------------------------------------------------------

/** A direct loop over the data (cheap: the same work as the forward depthwise conv). */
const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, dilations, pad, dimRoundingMode, filterShape } = attrs as unknown as {
    strides: [number, number] | number; dilations: [number, number] | number; pad: backend_util.ExplicitPadding | 'same' | 'valid' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
  };
  const ci = backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, dilations, pad, dimRoundingMode, true);
  const xv = b.readSync(x.dataId) as Float32Array;
  const dyv = b.readSync(dy.dataId) as Float32Array;
  const [fh, fw, inC, mult] = filterShape;
  const outC = inC * mult;
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = ci;
  const dh = ci.dilationHeight;
  const dw = ci.dilationWidth;
  const acc = new Float64Array(fh * fw * outC);
  for (let n = 0; n < ci.batchSize; n++) {
    for (let i = 0; i < OH; i++) {
      for (let kh = 0; kh < fh; kh++) {
        const r = i * sh - ci.padInfo.top + kh * dh;
        if (r < 0 || r >= H) continue;
        for (let j = 0; j < OW; j++) {
          const dyOff = ((n * OH + i) * OW + j) * outC;
          for (let kw = 0; kw < fw; kw++) {
            const c0 = j * sw - ci.padInfo.left + kw * dw;
            if (c0 < 0 || c0 >= W) continue;
            const xOff = ((n * H + r) * W + c0) * inC;
            const aOff = (kh * fw + kw) * outC;
            for (let c = 0; c < inC; c++) {
              const xval = xv[xOff + c];
              for (let m = 0; m < mult; m++) acc[aOff + c * mult + m] += xval * dyv[dyOff + c * mult + m];
            }
          }
        }
      }
    }
  }
  const out = b.makeOutput(filterShape, 'float32');
  (b.typedArrayFromHeap(out) as Float32Array).set(acc);
  return out;
};

// ---- Slice ------------------------------------------------------------------------------------

/**
 * Slice reading the wasm heap in place: the stock kernel reads its input with readSync, a copy of the whole
 * tensor per slice (ViT's split into q, k, v and every Concat gradient paid it). Rows of the last axis are
 * copied with one typed-array set each.
 */
let stockSlice: KernelFunc | null = null;

const slice: KernelFunc = (args) => {
  const b = args.backend as BackendWasm;
  const { x } = args.inputs as { x: TensorInfo };
  if (x.dtype === 'string') return stockSlice!(args);
  const { begin, size } = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [b0, s0] = slice_util.parseSliceParams(x, begin, size);
  const out = b.makeOutput(s0, x.dtype);
  const n = util.sizeFromShape(s0);
  if (n === 0) return out;
  const xv = b.typedArrayFromHeap(x); // views after the allocation
  const ov = b.typedArrayFromHeap(out);
  const strides = util.computeStrides(x.shape);
  if (slice_util.isSliceContinous(x.shape, b0, s0)) {
    const off = slice_util.computeFlatOffset(b0, strides);
    ov.set(xv.subarray(off, off + n));
    return out;
  }
  const rank = x.shape.length;
  const cols = s0[rank - 1];
  const idx = new Array(Math.max(rank - 1, 0)).fill(0); // position in the output's leading dims
  for (let o = 0; o < n; o += cols) {
    let off = b0[rank - 1];
    for (let d = 0; d < rank - 1; d++) off += (b0[d] + idx[d]) * strides[d];
    ov.set(xv.subarray(off, off + cols), o);
    for (let d = rank - 2; d >= 0; d--) {
      if (++idx[d] < s0[d]) break;
      idx[d] = 0;
    }
  }
  return out;
};

/** Unpack (unstack) as slices by the kernel above (the stock one calls the stock slice directly). */
const unpack: KernelFunc = (args) => {
  const { value } = args.inputs as { value: TensorInfo };
  const rank = value.shape.length;
  let axis = (args.attrs as unknown as { axis: number }).axis;
  if (axis < 0) axis += rank;
  const outShape = value.shape.filter((_, i) => i !== axis);
  const begin = new Array(rank).fill(0);
  const size = value.shape.slice();
  size[axis] = 1;
  const outs: TensorInfo[] = [];
  for (let i = 0; i < value.shape[axis]; i++) {
    begin[axis] = i;
    const s = slice({ inputs: { x: value }, attrs: { begin: [...begin], size }, backend: args.backend }) as TensorInfo;
    outs.push({ dataId: s.dataId, dtype: s.dtype, shape: outShape });
  }
  return outs;
};

/** SplitV (split) as slices by the kernel above (the stock one calls the stock slice directly: Concat's gradient). */
const splitV: KernelFunc = (args) => {
  const { x } = args.inputs as { x: TensorInfo };
  const { numOrSizeSplits, axis } = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const ax = util.parseAxisParam(axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as unknown as Parameters<typeof backend_util.prepareSplitSize>[0], numOrSizeSplits, ax);
  const begin = new Array(x.shape.length).fill(0);
  return sizes.map((n) => {
    const size = x.shape.slice();
    size[ax] = n;
    const part = slice({ inputs: { x }, attrs: { begin: [...begin], size }, backend: args.backend }) as TensorInfo;
    begin[ax] += n;
    return part;
  });
};

// ---- Identity ---------------------------------------------------------------------------------

/**
 * A new reference to the same data (what the cpu backend does), not a copy: TF.js clones every tensor it saves
 * for a gradient, so the stock wasm Identity copied each saved input and output once per step. TF.js tensors
 * are immutable, so sharing is safe.
 */
const identity: KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: TensorInfo };
  if (x.dtype === 'string') throw new Error('Identity of string tensors is not supported on wasm');
  (backend as BackendWasm).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

let registered = false;

function replace(config: KernelConfig): void {
  if (getKernel(config.kernelName, 'wasm')) unregisterKernel(config.kernelName, 'wasm');
  registerKernel(config);
}

/** Install the kernels above on 'wasm' (once; later calls do nothing). */
export function registerWasmGradientKernels(): void {
  if (registered) return;
  stockConv2DBackpropInput = getKernel(Conv2DBackpropInput, 'wasm')?.kernelFunc ?? null;
  stockMaxPoolGrad = getKernel(MaxPoolGrad, 'wasm')?.kernelFunc ?? null;
  stockSlice = getKernel(Slice, 'wasm')?.kernelFunc ?? null;
  const configs: KernelConfig[] = [
    { kernelName: DepthwiseConv2dNativeBackpropInput, backendName: 'wasm', kernelFunc: depthwiseBackpropInput },
    { kernelName: Conv2DBackpropInput, backendName: 'wasm', kernelFunc: conv2DBackpropInput },
    { kernelName: MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad },
    { kernelName: UnsortedSegmentSum, backendName: 'wasm', kernelFunc: unsortedSegmentSum },
    { kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilter },
    { kernelName: DepthwiseConv2dNativeBackpropFilter, backendName: 'wasm', kernelFunc: depthwiseBackpropFilter },
    { kernelName: Identity, backendName: 'wasm', kernelFunc: identity },
    { kernelName: Slice, backendName: 'wasm', kernelFunc: slice },
    { kernelName: Unpack, backendName: 'wasm', kernelFunc: unpack },
    { kernelName: SplitV, backendName: 'wasm', kernelFunc: splitV },
  ];
  for (const c of configs) replace(c);
  registered = true;
}

/** The stock wasm Conv2DBackpropInput (for benchmarks comparing it with ours). */
export function stockConv2DBackpropInputKernel(): KernelFunc | null {
  return stockConv2DBackpropInput;
}

/** The stock (wrong) wasm MaxPoolGrad (for benchmarks). */
export function stockMaxPoolGradKernel(): KernelFunc | null {
  return stockMaxPoolGrad;
}
