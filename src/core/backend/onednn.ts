/**
 * Optional native CPU kernels for the wasm backend: convolutions (forward, fused bias + relu/relu6, input
 * gradients; regular and depthwise) and (batched, fused) matmuls run on oneDNN, and the max-pool gradient, softmax and transposes are loops, through a small Node addon
 * (native/onednn.cc) built from Debian's libdnnl by `npm run build:native` (for this machine, native/build/) or
 * `npm run build:native -- --portable` (for any x86-64 Linux, with its libraries beside it, native/build/portable/: the one
 * the linux-x64 .vsix carries). The addon reads and writes the wasm heap in place, so tensors never leave the wasm
 * backend and every other op stays as it was.
 *
 * Without the addon (not built, libdnnl missing, or it fails its check on this CPU) nothing changes: wasm keeps its own
 * kernels, and {@link oneDnnNote} says why. `NEURON_LENS_NATIVE=0` turns the addon off; `NEURON_LENS_NATIVE_ADDON=path`
 * picks the addon file. Shapes or options the addon does not cover (NCHW data,
 * non-float32 tensors, other fused activations, unusual batch broadcasts) go to the wasm kernel it replaced.
 */
import * as fs from 'fs';
import * as path from 'path';
import {
  backend_util,
  BatchMatMul,
  Conv2D,
  Conv2DBackpropInput,
  DepthwiseConv2dNative,
  DepthwiseConv2dNativeBackpropInput,
  FusedConv2D,
  FusedDepthwiseConv2D,
  _FusedMatMul,
  getBackend,
  getKernel,
  KernelConfig,
  KernelFunc,
  MaxPoolGrad,
  registerKernel,
  Softmax,
  TensorInfo,
  Transpose,
  unregisterKernel,
  util,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** The addon interface this module speaks (native/onednn.cc exports its own as `abi`). */
const ABI = 5;

interface Addon {
  version: string;
  abi?: number;
  /** 'native' (-march=native, for the machine that built it), 'portable' or 'portable x86-64-v3'; absent before they were told apart. */
  build?: string;
  /** Instruction sets the build uses that this CPU lacks, space-separated ('' or absent: none). */
  cpuMissing?: string;
  conv(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, params: Int32Array): void;
  matmul(a: Float32Array, b: Float32Array, bias: Float32Array | null, c: Float32Array, params: Int32Array): void;
  actGrad(dy: Float32Array, y: Float32Array, out: Float32Array, act: number): void;
  maxPoolGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, params: Int32Array): void;
  softmax(x: Float32Array, y: Float32Array, cols: number): void;
  transpose(x: Float32Array, y: Float32Array, shape: Int32Array, perm: Int32Array): void;
  avgPoolGrad(dy: Float32Array, dx: Float32Array, params: Int32Array): void;
  gelu(x: Float32Array, y: Float32Array): void;
  geluGrad(dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  softmaxGrad(dy: Float32Array, y: Float32Array, dx: Float32Array, cols: number): void;
  affineSample(x: Float32Array, out: Float32Array, affines: Float64Array, params: Int32Array, fill: number): void;
  affineSampleGrad(dy: Float32Array, dx: Float32Array, affines: Float64Array, params: Int32Array): void;
  channelAffine(x: Float32Array, scale: Float32Array, offset: Float32Array, y: Float32Array, act: number): void;
  channelAffineGrad(dy: Float32Array, y: Float32Array, scale: Float32Array, dx: Float32Array, act: number): void;
  layerNorm(x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array, cols: number, eps: number): void;
  layerNormGrad(dy: Float32Array, x: Float32Array, gamma: Float32Array | null, dx: Float32Array, cols: number, eps: number): void;
  release(weightId: number): void;
  stats(): { primitives: number; keptWeights: number };
}

const ADDON_FILE = 'onednn.node';

/**
 * Where the built addon may be, in order: `NEURON_LENS_NATIVE_ADDON` alone when set; else the machine's own build
 * (native/build), then the portable one (native/build/portable), under the repository from src/core/backend or
 * under the extension from a dist/ bundle.
 */
export function addonCandidates(env: NodeJS.ProcessEnv = process.env, here = __dirname): string[] {
  if (env.NEURON_LENS_NATIVE_ADDON) return [path.resolve(env.NEURON_LENS_NATIVE_ADDON)];
  const roots = [path.join(here, '..', '..', '..'), path.join(here, '..')];
  return roots.flatMap((r) => [path.join(r, 'native', 'build', ADDON_FILE), path.join(r, 'native', 'build', 'portable', ADDON_FILE)]);
}

/** The instruction sets of x86-64-v3 (AVX2, FMA, ...) as /proc/cpuinfo names them; abm is lzcnt. */
const X86_64_V3 = ['avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'abm', 'movbe', 'xsave'];
const V3_FILE = 'onednn-x86-64-v3.node';

/** This CPU's flags from /proc/cpuinfo (empty where there is none). */
function cpuFlags(): Set<string> {
  try {
    const line = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return new Set(line ? line[1].trim().split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

/**
 * The portable build's copy for x86-64-v3 CPUs (beside `file`) when this CPU has every one of those instruction sets,
 * else `file`. Decided before loading: a library built for instruction sets the CPU lacks may crash as it loads.
 */
export function addonVariant(file: string, flags: Set<string> = cpuFlags()): string {
  const v3 = path.join(path.dirname(file), V3_FILE);
  return path.basename(file) === ADDON_FILE && fs.existsSync(v3) && X86_64_V3.every((f) => flags.has(f)) ? v3 : file;
}

/** Whether this runs from a source checkout (which can build the addon), not from an installed package. */
function fromSource(here = __dirname): boolean {
  return [path.join(here, '..', '..', '..'), path.join(here, '..')].some((r) => fs.existsSync(path.join(r, 'native', 'onednn.cc')));
}

let addon: Addon | null = null;
let addonFile = '';
let loadNote = '';

const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/**
 * Runs a 1x1 convolution and a matmul through a freshly loaded addon and checks the numbers: oneDNN creates its
 * kernels for this CPU only when first asked, so an addon that loads may still fail here. Throws saying what failed.
 */
export function checkAddon(a: Pick<Addon, 'conv' | 'matmul'>): void {
  const y = new Float32Array(4);
  a.conv(new Float32Array([1, 2, 3, 4]), new Float32Array([2]), new Float32Array([0.5]), y,
    new Int32Array([0, 1, 2, 2, 1, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]));
  const c = new Float32Array(1);
  a.matmul(new Float32Array([1, 2]), new Float32Array([3, 4]), null, c, new Int32Array([1, 1, 1, 2, 1, 0, 0, 0, 0]));
  const want = [2.5, 4.5, 6.5, 8.5, 11];
  const got = [...y, ...c];
  if (got.some((v, i) => Math.abs(v - want[i]) > 1e-5)) throw new Error(`wrong results from its self-check: [${got.join(', ')}] instead of [${want.join(', ')}]`);
}

/** Load the addon once; null with a reason (see {@link oneDnnNote}) when it is off, not built, fails to load or to run. */
function loadAddon(): Addon | null {
  if (addon || loadNote) return addon;
  const env = process.env.NEURON_LENS_NATIVE;
  if (env === '0' || env === 'false' || env === 'off') {
    loadNote = 'native kernels off (NEURON_LENS_NATIVE=0)';
    return null;
  }
  const found = addonCandidates().find((f) => fs.existsSync(f));
  const file = found && addonVariant(found);
  if (!file) {
    loadNote = process.env.NEURON_LENS_NATIVE_ADDON
      ? `native kernels not found: NEURON_LENS_NATIVE_ADDON=${process.env.NEURON_LENS_NATIVE_ADDON} does not exist`
      : fromSource()
        ? 'native kernels not built (npm run build:native needs libdnnl-dev)'
        : 'native kernels not in this package (the linux-x64 .vsix carries them)';
    return null;
  }
  // OpenMP's threads (libgomp) spin about 300,000 times waiting for the next parallel region before they sleep: on a
  // busy machine, an editor's usual state, the spinning threads take the cores from the one with the work. MobileNet
  // v1 0.75, batch 1, at load 12 on 2 cores: 846 ms/step by default, 45 with GOMP_SPINCOUNT=1000, 41 with
  // OMP_WAIT_POLICY=passive (wasm alone: 563). libgomp reads these when the addon loads it; a user's setting wins.
  if (process.env.GOMP_SPINCOUNT === undefined && process.env.OMP_WAIT_POLICY === undefined) process.env.GOMP_SPINCOUNT = '1000';
  let loaded: Addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require(file) as Addon;
  } catch (e) {
    loadNote = `native kernels failed to load (${file}): ${firstLine(e)}`;
    return null;
  }
  if (loaded.abi !== ABI) {
    loadNote = `native kernels out of date (${file} is interface ${loaded.abi ?? 1}, this build needs ${ABI}): run npm run build:native`;
    return null;
  }
  if (loaded.cpuMissing) {
    loadNote = `native kernels built for another CPU (${file} uses ${loaded.cpuMissing}, which this CPU lacks): run npm run build:native`;
    return null;
  }
  try {
    checkAddon(loaded);
  } catch (e) {
    loadNote = `native kernels do not run on this CPU (${file}): ${firstLine(e)}`;
    return null;
  }
  addon = loaded;
  addonFile = file;
  return addon;
}

/** Why the native kernels are not in use, or '' when they are. */
export function oneDnnNote(): string {
  return enabled ? '' : loadNote;
}

// ---- weight ids ---------------------------------------------------------------------------------

// A filter or matmul weight seen a second time (by its data id: TF.js tensors are immutable) gets an id, and the
// addon keeps its reordered copy until the tensor is garbage collected. One seen once (a transient) is not kept.
const seen = new WeakSet<object>();
const ids = new WeakMap<object, number>();
let nextId = 1;
const released = new FinalizationRegistry<number>((id) => addon?.release(id));

function weightId(dataId: object): number {
  const known = ids.get(dataId);
  if (known !== undefined) return known;
  if (!seen.has(dataId)) {
    seen.add(dataId);
    return 0;
  }
  const id = nextId++;
  ids.set(dataId, id);
  released.register(dataId, id);
  return id;
}

// ---- kernels ------------------------------------------------------------------------------------

type Inputs = Record<string, TensorInfo | undefined>;
const ACTS: Record<string, number> = { linear: 0, relu: 1, relu6: 2 };

function f32(b: BackendWasm, t: TensorInfo): Float32Array {
  return b.typedArrayFromHeap(t) as Float32Array;
}

function allFloat(...ts: Array<TensorInfo | undefined>): boolean {
  return ts.every((t) => !t || (t.dtype === 'float32' && util.sizeFromShape(t.shape) > 0));
}

function channelsLast(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

interface ConvAttrs {
  strides: [number, number] | number;
  pad: backend_util.ExplicitPadding | 'same' | 'valid' | number;
  dataFormat?: string;
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  activation?: string;
  inputShape?: [number, number, number, number];
}

/** Runs a convolution on oneDNN: forward (x -> y) or input gradient (dy -> dx). */
function nativeConv(b: BackendWasm, mode: 0 | 1, src: TensorInfo, filter: TensorInfo, bias: TensorInfo | undefined, ci: backend_util.Conv2DInfo, depthwise: boolean, act: number): TensorInfo {
  const groups = depthwise ? ci.inChannels : 1;
  const p = ci.padInfo;
  const params = new Int32Array([
    mode, ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels, ci.outHeight, ci.outWidth, ci.outChannels, ci.filterHeight, ci.filterWidth,
    groups, ci.strideHeight, ci.strideWidth, ci.dilationHeight, ci.dilationWidth, p.top, p.left, p.bottom, p.right, act, weightId(filter.dataId),
  ]);
  const shape = mode === 0 ? [ci.batchSize, ci.outHeight, ci.outWidth, ci.outChannels] : [ci.batchSize, ci.inHeight, ci.inWidth, ci.inChannels];
  const out = b.makeOutput(shape, 'float32');
  // Views after the allocation: growing the heap detaches older ones.
  addon!.conv(f32(b, src), f32(b, filter), bias ? f32(b, bias) : null, f32(b, out), params);
  return out;
}

/** Conv2D / FusedConv2D / DepthwiseConv2dNative / FusedDepthwiseConv2D forward. */
function forwardConv(depthwise: boolean, fallback: () => KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as BackendWasm;
    const { x, filter, bias, preluActivationWeights } = args.inputs as Inputs;
    const a = args.attrs as unknown as ConvAttrs;
    const act = ACTS[a.activation ?? 'linear'];
    const biasOk = !bias || util.sizeFromShape(bias.shape) === filter!.shape[depthwise ? 2 : 3] * (depthwise ? filter!.shape[3] : 1);
    if (act === undefined || preluActivationWeights || !biasOk || !channelsLast(a.dataFormat) || !allFloat(x, filter, bias) || x!.shape.length !== 4) {
      return fallback()(args);
    }
    const ci = backend_util.computeConv2DInfo(x!.shape as [number, number, number, number], filter!.shape as [number, number, number, number],
      a.strides, a.dilations ?? 1, a.pad, a.dimRoundingMode, depthwise);
    return nativeConv(b, 0, x!, filter!, bias, ci, depthwise, act);
  };
}

/** Conv2DBackpropInput / DepthwiseConv2dNativeBackpropInput. */
function inputGradConv(depthwise: boolean, fallback: () => KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as BackendWasm;
    const { dy, filter } = args.inputs as Inputs;
    const a = args.attrs as unknown as ConvAttrs;
    if (!channelsLast(a.dataFormat) || !allFloat(dy, filter) || !a.inputShape) return fallback()(args);
    const ci = backend_util.computeConv2DInfo(a.inputShape, filter!.shape as [number, number, number, number], a.strides, a.dilations ?? 1,
      a.pad, a.dimRoundingMode, depthwise);
    return nativeConv(b, 1, dy!, filter!, undefined, ci, depthwise, 0);
  };
}

/** BatchMatMul / _FusedMatMul: outer dims equal, or one side's all 1 (broadcast). */
function matMul(fallback: () => KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as BackendWasm;
    const { a: A, b: B, bias, preluActivationWeights } = args.inputs as Inputs;
    const at = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation?: string };
    const act = ACTS[at.activation ?? 'linear'];
    if (act === undefined || preluActivationWeights || !allFloat(A, B, bias) || A!.shape.length < 2 || B!.shape.length < 2) return fallback()(args);
    const ra = A!.shape.length;
    const rb = B!.shape.length;
    const m = at.transposeA ? A!.shape[ra - 1] : A!.shape[ra - 2];
    const k = at.transposeA ? A!.shape[ra - 2] : A!.shape[ra - 1];
    const kb = at.transposeB ? B!.shape[rb - 1] : B!.shape[rb - 2];
    const n = at.transposeB ? B!.shape[rb - 2] : B!.shape[rb - 1];
    const outerA = A!.shape.slice(0, -2);
    const outerB = B!.shape.slice(0, -2);
    const ba = util.sizeFromShape(outerA);
    const bb = util.sizeFromShape(outerB);
    const sameOuter = util.arraysEqual(outerA, outerB);
    const biasOk = !bias || (util.sizeFromShape(bias.shape) === n && bias.shape[bias.shape.length - 1] === n);
    if (k !== kb || !biasOk || !(sameOuter || ba === 1 || bb === 1)) return fallback()(args);
    const outer = sameOuter ? outerA : ba === 1 && bb === 1 ? (ra >= rb ? outerA : outerB) : ba === 1 ? outerB : outerA;
    const out = b.makeOutput([...outer, m, n], 'float32');
    const params = new Int32Array([ba, bb, m, k, n, at.transposeA ? 1 : 0, at.transposeB ? 1 : 0, act, bb === 1 ? weightId(B!.dataId) : 0]);
    addon!.matmul(f32(b, A!), f32(b, B!), bias ? f32(b, bias) : null, f32(b, out), params);
    return out;
  };
}

/** MaxPoolGrad (a plain loop in the addon; the wasm one is slow and, stock, wrong: see ./wasm_kernels.ts). */
function maxPoolGrad(fallback: () => KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as BackendWasm;
    const { dy, input } = args.inputs as Inputs;
    const a = args.attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'same' | 'valid' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
    if (!allFloat(dy, input) || input!.shape.length !== 4) return fallback()(args);
    const pi = backend_util.computePool2DInfo(input!.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
    if (!util.arraysEqual(pi.outShape, dy!.shape)) throw new Error(`MaxPoolGrad: dy [${dy!.shape}] is not the pool's output shape [${pi.outShape}]`);
    const out = b.makeOutput(input!.shape, 'float32');
    const params = new Int32Array([pi.batchSize, pi.inHeight, pi.inWidth, pi.inChannels, pi.outHeight, pi.outWidth, pi.filterHeight, pi.filterWidth,
      pi.strideHeight, pi.strideWidth, pi.dilationHeight, pi.dilationWidth, pi.padInfo.top, pi.padInfo.left]);
    addon!.maxPoolGrad(f32(b, input!), f32(b, dy!), f32(b, out), params);
    return out;
  };
}

/** Softmax over the last axis (a row loop in the addon; wasm's is scalar). */
function softmax(fallback: () => KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as BackendWasm;
    const { logits } = args.inputs as Inputs;
    const dim = (args.attrs as unknown as { dim: number }).dim;
    const rank = logits!.shape.length;
    if (!allFloat(logits) || (dim !== -1 && dim !== rank - 1)) return fallback()(args);
    const out = b.makeOutput(logits!.shape, 'float32');
    addon!.softmax(f32(b, logits!), f32(b, out), logits!.shape[rank - 1]);
    return out;
  };
}

/** Transpose of float32 tensors of any rank (wasm's is slow past rank 4: ViT's [B, T, 3, H, K] split into heads). */
function transpose(fallback: () => KernelFunc): KernelFunc {
  return (args) => {
    const b = args.backend as BackendWasm;
    const { x } = args.inputs as Inputs;
    const perm = (args.attrs as unknown as { perm: number[] }).perm;
    if (!allFloat(x) || x!.shape.length > 8 || x!.shape.length < 2) return fallback()(args);
    const out = b.makeOutput(perm.map((p) => x!.shape[p]), 'float32');
    addon!.transpose(f32(b, x!), f32(b, out), new Int32Array(x!.shape), new Int32Array(perm));
    return out;
  };
}

// ---- registration -------------------------------------------------------------------------------

const REPLACED = [Conv2D, FusedConv2D, DepthwiseConv2dNative, FusedDepthwiseConv2D, Conv2DBackpropInput, DepthwiseConv2dNativeBackpropInput, BatchMatMul, _FusedMatMul, MaxPoolGrad, Softmax, Transpose];
const previous = new Map<string, KernelFunc>();
let enabled = false;

function prev(name: string): () => KernelFunc {
  return () => {
    const k = previous.get(name);
    if (!k) throw new Error(`wasm kernel ${name} is not registered`);
    return k;
  };
}

const NATIVE: Record<string, KernelFunc> = {
  [Conv2D]: forwardConv(false, prev(Conv2D)),
  [FusedConv2D]: forwardConv(false, prev(FusedConv2D)),
  [DepthwiseConv2dNative]: forwardConv(true, prev(DepthwiseConv2dNative)),
  [FusedDepthwiseConv2D]: forwardConv(true, prev(FusedDepthwiseConv2D)),
  [Conv2DBackpropInput]: inputGradConv(false, prev(Conv2DBackpropInput)),
  [DepthwiseConv2dNativeBackpropInput]: inputGradConv(true, prev(DepthwiseConv2dNativeBackpropInput)),
  [BatchMatMul]: matMul(prev(BatchMatMul)),
  [_FusedMatMul]: matMul(prev(_FusedMatMul)),
  [MaxPoolGrad]: maxPoolGrad(prev(MaxPoolGrad)),
  [Softmax]: softmax(prev(Softmax)),
  [Transpose]: transpose(prev(Transpose)),
};

function install(name: string, kernelFunc: KernelFunc): void {
  const k = getKernel(name, 'wasm');
  if (k) unregisterKernel(name, 'wasm');
  registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc } as KernelConfig);
}

/**
 * Put the oneDNN kernels on 'wasm' (true), or give back the ones they replaced (false). Call after the wasm
 * backend and its gradient kernels are registered. Returns whether they are on; false with a reason in
 * {@link oneDnnNote} when the addon cannot be had.
 */
export function setOneDnnKernels(on: boolean): boolean {
  if (on === enabled) return enabled;
  if (on) {
    if (!loadAddon()) return false;
    for (const name of REPLACED) {
      const k = getKernel(name, 'wasm');
      if (!k) throw new Error(`wasm kernel ${name} is not registered: register the wasm backend first`);
      previous.set(name, k.kernelFunc);
      install(name, NATIVE[name]);
    }
  } else {
    for (const name of REPLACED) install(name, previous.get(name)!);
    previous.clear();
  }
  enabled = on;
  return enabled;
}

/** Whether the oneDNN kernels serve the active backend (it is wasm and they are on). */
export function oneDnnActive(): boolean {
  return enabled && getBackend() === 'wasm';
}

/** The addon's plain loops (see ./actgrad.ts, ./layernorm.ts, ./affine.ts, ./avgpool.ts, ../render/sampler.ts). */
export type NativeLoops = Pick<Addon, 'actGrad' | 'softmaxGrad' | 'layerNorm' | 'layerNormGrad' | 'channelAffine' | 'channelAffineGrad' | 'affineSample' | 'affineSampleGrad' | 'avgPoolGrad' | 'gelu' | 'geluGrad'>;

/** The addon's plain loops while the native kernels are on, else null. */
export function nativeLoops(): NativeLoops | null {
  return enabled ? addon : null;
}

/** The addon's version string, build ('native', 'portable' or 'portable x86-64-v3'), file and cache sizes, or null when it is not loaded. */
export function oneDnnInfo(): { version: string; build: string; file: string; primitives: number; keptWeights: number } | null {
  return addon ? { version: addon.version, build: addon.build ?? 'native', file: addonFile, ...addon.stats() } : null;
}
