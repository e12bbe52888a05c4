/**
 * Backend selection for the engine: tensorflow (optional native) -> webgpu (optional) -> wasm -> cpu.
 *
 * The native and WebGPU backends are optional packages the user may install; they are loaded with a
 * guarded `require` so that a missing package is only a reason string. wasm is the default everywhere
 * and gets the gradient kernels it lacks (see ./wasm_kernels.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// tfjs-core's package entry registers no gradients; the engine needs them all.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
// After TF.js's gradients: ours for Softmax replaces its own.
import './actgrad';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
// After both backends' kernels: ours replace their AvgPoolGrad.
import './avgpool';
import { oneDnnInfo, oneDnnNote, setOneDnnKernels } from './onednn';
import { registerWasmGradientKernels } from './wasm_kernels';
import { completeWasmThreads, MAX_WASM_THREADS, prepareWasmThreads } from './wasmThreads';

// TF.js prints a banner suggesting tfjs-node on first use in Node; the chosen backend is reported instead.
tf.env().set('PROD', true);

import { BACKEND_NAMES, type BackendName } from './names';

export { BACKEND_NAMES, BACKEND_SETTINGS, backendSummary, isBackendSetting, type BackendName, type BackendSetting } from './names';

export interface BackendInfo {
  name: BackendName;
  /** Human readable: what was chosen and why the ones before it were not. */
  reason: string;
  threads?: number;
  simd?: boolean;
  device?: string;
  /** The native kernel library the wasm backend runs convolutions and matmuls on, when there is one (./onednn.ts). */
  native?: string;
}

const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

/**
 * The folder holding the three tfjs-backend-wasm `.wasm` files: next to this module when bundled
 * (the build copies them into `dist/`), else the installed package's `dist/` folder.
 */
export function wasmFilesDir(): string {
  if (WASM_FILES.every((f) => fs.existsSync(path.join(__dirname, f)))) return __dirname;
  let pkgJson: string;
  try {
    pkgJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  } catch (e) {
    throw new Error(`wasm backend files not found next to ${__dirname} and @tensorflow/tfjs-backend-wasm is not resolvable`);
  }
  const dir = path.join(path.dirname(pkgJson), 'dist');
  const missing = WASM_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length > 0) throw new Error(`wasm backend files missing in ${dir}: ${missing.join(', ')}`);
  return dir;
}

/** A guarded dynamic require: the module, or the reason it could not be loaded. */
function tryRequire(name: string): { mod?: unknown; why?: string } {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return { mod: require(name) };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const code = (e as { code?: string }).code;
    if (code === 'MODULE_NOT_FOUND' && msg.includes(`'${name}'`)) return { why: `${name} not installed` };
    return { why: `${name} failed to load: ${msg.split('\n')[0]}` };
  }
}

function errMsg(e: unknown): string {
  if (e instanceof Error) return e.message.split('\n')[0];
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

/** Make `name` the active backend; false if registered but failed to initialise. */
async function activate(name: string): Promise<boolean> {
  if (tf.getBackend() === name) return true;
  return tf.setBackend(name);
}

type Attempt = { ok: true; info: BackendInfo } | { ok: false; why: string };

async function tryTensorflow(): Promise<Attempt> {
  const whys: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    const r = tryRequire(pkg);
    if (!r.mod) {
      whys.push(r.why!);
      continue;
    }
    if (!tf.findBackendFactory('tensorflow')) {
      whys.push(`${pkg} loaded but registered its backend on another copy of @tensorflow/tfjs-core (version mismatch with ${tf.version_core})`);
      continue;
    }
    try {
      if (!(await activate('tensorflow'))) {
        whys.push(`${pkg}: backend failed to initialise`);
        continue;
      }
    } catch (e) {
      whys.push(`${pkg}: ${errMsg(e)}`);
      continue;
    }
    const device = pkg.endsWith('-gpu') ? 'CUDA (libtensorflow)' : 'CPU (libtensorflow)';
    return { ok: true, info: { name: 'tensorflow', reason: `tensorflow: native TensorFlow via ${pkg}`, device } };
  }
  return { ok: false, why: `tensorflow: ${whys.join('; ')}` };
}

interface GpuAdapterInfoLike {
  vendor?: string;
  architecture?: string;
  description?: string;
  device?: string;
  isFallbackAdapter?: boolean;
}
interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: GpuAdapterInfoLike;
  requestAdapterInfo?: () => Promise<GpuAdapterInfoLike>;
}

/** A software rasteriser posing as a GPU would be far slower than wasm. */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|software/i;
interface GpuLike {
  requestAdapter(opts?: unknown): Promise<GpuAdapterLike | null>;
}

async function tryWebgpu(): Promise<Attempt> {
  const g = globalThis as unknown as { navigator?: { gpu?: GpuLike } };
  if (!g.navigator?.gpu) {
    const r = tryRequire('webgpu');
    if (!r.mod) return { ok: false, why: `webgpu: ${r.why}` };
    const { create, globals } = r.mod as { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
    try {
      Object.assign(globalThis, globals);
      const gpu = create([]);
      if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
      else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    } catch (e) {
      return { ok: false, why: `webgpu: creating the Dawn instance failed: ${errMsg(e)}` };
    }
  }
  let adapter: GpuAdapterLike | null;
  try {
    adapter = await g.navigator!.gpu!.requestAdapter({ powerPreference: 'high-performance' });
  } catch (e) {
    return { ok: false, why: `webgpu: requestAdapter failed: ${errMsg(e)}` };
  }
  if (!adapter) return { ok: false, why: 'webgpu: no GPU adapter' };
  let info: GpuAdapterInfoLike | undefined;
  try {
    info = adapter.info ?? (adapter.requestAdapterInfo ? await adapter.requestAdapterInfo() : undefined);
  } catch {
    info = undefined; // adapter info is optional decoration
  }
  const device = [info?.vendor, info?.architecture, info?.description || info?.device].filter((s) => !!s).join(' ') || 'GPU';
  if (adapter.isFallbackAdapter || info?.isFallbackAdapter || SOFTWARE_ADAPTER.test(device)) {
    return { ok: false, why: `webgpu: only a software adapter (${device})` };
  }
  // The webgpu backend registers itself only if navigator.gpu exists when it is first required.
  const r = tryRequire('@tensorflow/tfjs-backend-webgpu');
  if (!r.mod) return { ok: false, why: `webgpu: ${r.why}` };
  if (!tf.findBackendFactory('webgpu')) {
    return { ok: false, why: 'webgpu: @tensorflow/tfjs-backend-webgpu did not register a backend on this @tensorflow/tfjs-core' };
  }
  try {
    if (!(await activate('webgpu'))) return { ok: false, why: 'webgpu: backend failed to initialise' };
  } catch (e) {
    return { ok: false, why: `webgpu: ${errMsg(e)}` };
  }
  return { ok: true, info: { name: 'webgpu', reason: `webgpu: ${device}`, device } };
}

let wasmPathsSet = false;
let wasmStarted = false;
let threadsNote = '';

/** wasm threads: `NEURON_LENS_WASM_THREADS` (1..8), else one per core (at most 8). */
function wasmThreadCount(): number | undefined {
  const env = process.env.NEURON_LENS_WASM_THREADS;
  if (env === undefined || env === '') return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) throw new Error(`NEURON_LENS_WASM_THREADS must be an integer in 1..${MAX_WASM_THREADS}, got "${env}"`);
  return n;
}

async function tryWasm(): Promise<Attempt> {
  try {
    if (!wasmPathsSet) {
      setWasmPaths(wasmFilesDir() + path.sep);
      wasmPathsSet = true;
    }
    // Threads must be prepared before the wasm backend first initializes (see ./wasmThreads.ts); without
    // them (e.g. the threads glue is missing beside a bundle) wasm still runs, on one thread.
    const threads = wasmThreadCount();
    let prepared = false;
    if (!wasmStarted) {
      try {
        prepareWasmThreads(threads);
        prepared = true;
      } catch (e) {
        threadsNote = `threads off (${errMsg(e)})`;
      }
    }
    let ok: boolean;
    try {
      ok = await activate('wasm');
    } finally {
      if (prepared) threadsNote = completeWasmThreads().reason;
      wasmStarted = true;
    }
    if (!ok) return { ok: false, why: 'wasm: backend failed to initialise' };
  } catch (e) {
    return { ok: false, why: `wasm: ${errMsg(e)}` };
  }
  registerWasmGradientKernels();
  const native = setOneDnnKernels(true);
  const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const threads = getThreadsCount();
  const desc = `${simd ? 'SIMD' : 'no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}${threads === 1 && threadsNote ? `: ${threadsNote}` : ''}`;
  const nativeDesc = native ? `; convolutions and matmuls on ${oneDnnInfo()!.version} (native kernels, ${oneDnnInfo()!.build} build)` : `; ${oneDnnNote()}`;
  return { ok: true, info: { name: 'wasm', reason: `wasm: CPU via WebAssembly (${desc})${nativeDesc}`, threads, simd, device: 'CPU', native: native ? oneDnnInfo()!.version : undefined } };
}

async function tryCpu(): Promise<Attempt> {
  if (!(await activate('cpu'))) return { ok: false, why: 'cpu: backend failed to initialise' };
  return { ok: true, info: { name: 'cpu', reason: 'cpu: pure JavaScript reference backend (slow)', device: 'CPU', threads: 1 } };
}

const ATTEMPTS: Record<BackendName, () => Promise<Attempt>> = {
  tensorflow: tryTensorflow,
  webgpu: tryWebgpu,
  wasm: tryWasm,
  cpu: tryCpu,
};

const cache = new Map<string, BackendInfo>();
let pending: Promise<BackendInfo> | null = null;

async function choose(requested: BackendName | 'auto'): Promise<BackendInfo> {
  if (requested !== 'auto') {
    const a = await ATTEMPTS[requested]();
    if (!a.ok) throw new Error(`backend '${requested}' cannot start: ${a.why}`);
    return { ...a.info, reason: `${a.info.reason} (requested)` };
  }
  const skipped: string[] = [];
  for (const name of BACKEND_NAMES) {
    const a = await ATTEMPTS[name]();
    if (a.ok) {
      const defaultNote = name === 'wasm' ? ' — default CPU backend' : '';
      const reason = [a.info.reason + defaultNote, ...skipped].join('; ');
      return { ...a.info, reason };
    }
    skipped.push(a.why);
  }
  throw new Error(`no backend could start: ${skipped.join('; ')}`);
}

/**
 * Pick and initialise a backend. 'auto': tensorflow (if @tensorflow/tfjs-node-gpu or -node is installed
 * and loads) -> webgpu (if the `webgpu` npm package + @tensorflow/tfjs-backend-webgpu are installed and an
 * adapter exists) -> wasm -> cpu. Returns what was chosen and why. An explicit name that cannot start
 * throws an Error saying why. Idempotent: the same request returns the same answer (and re-activates
 * the chosen backend if something switched away from it).
 */
export async function initBackend(requested: BackendName | 'auto' = 'auto'): Promise<BackendInfo> {
  if (requested !== 'auto' && !(BACKEND_NAMES as readonly string[]).includes(requested)) {
    throw new Error(`unknown backend '${String(requested)}': expected one of auto, ${BACKEND_NAMES.join(', ')}`);
  }
  while (pending) await pending.catch(() => undefined);
  const known = cache.get(requested);
  if (known) {
    await activate(known.name);
    return { ...known };
  }
  pending = choose(requested);
  try {
    const info = await pending;
    cache.set(requested, info);
    return { ...info };
  } finally {
    pending = null;
  }
}
