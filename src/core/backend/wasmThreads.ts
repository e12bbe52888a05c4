// Multi-threaded TF.js wasm in Node.
//
// @tensorflow/tfjs-backend-wasm 4.22 ships a threaded+SIMD build (wasm-out/tfjs-backend-wasm-threaded-simd.*)
// but never uses it in Node. Three things stand in the way, all in the package:
//  1. dist/flags_wasm.js: WASM_HAS_MULTITHREAD_SUPPORT returns false whenever IS_NODE (tfjs issue 3830).
//  2. dist/backend_wasm.js init(): `locateFile` answers the pthread worker script with
//     `URL.createObjectURL(new Blob([wasmWorkerContents]))`; Node's worker_threads.Worker cannot load a `blob:`
//     URL, and the main script handed to each worker (`mainScriptUrlOrBlob`) is a Blob of the factory's
//     `toString()`, which in the Node bundle (dist/tf-backend-wasm.node.js) refers to rollup-scope names
//     (require$$0, commonjsGlobal, __values...) that do not exist inside a worker.
//  3. src/cc/backend.cc init_with_threads_count(): threads = min(requested, 8, emscripten_num_logical_cores() / 2),
//     and emscripten_num_logical_cores() is `os.cpus().length` in Node: a 2-core machine gets 1 thread.
//
// What this module does, without changing any package file:
//  1. sets the flag to true (env().set before the backend initializes) and calls setThreadsCount(n);
//  2. while the backend initializes, answers tfjs's worker Blob with a `data:` URL module (Node's Worker accepts
//     URL objects with the data: scheme) that runs the package's own worker script (wasmWorkerContents) and, in
//     place of the unusable Blob, evaluates the package's standalone glue wasm-out/tfjs-backend-wasm-threaded-simd.js
//     (same emscripten build as the Node bundle's inlined copy; the wasm module itself is posted by the main thread);
//  3. while the backend initializes, makes os.cpus() report 2n entries so the C++ cap lets n threads through;
//  4. afterwards restores both hooks and unrefs the pthread workers so they do not keep Node alive.
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
// The real (mutable) module object that the tfjs glue reads, not an import-star wrapper with getters.
import os = require('os');

const GLUE = 'tfjs-backend-wasm-threaded-simd.js';
const WORKER = 'tfjs-backend-wasm-threaded-simd.worker.js';
/** The pthread pool the glue pre-creates (PTHREAD_POOL_SIZE in the package's build); also the C++ cap. */
export const MAX_WASM_THREADS = 8;

export interface WasmThreadsResult {
  /** Threads XNNPACK uses (1 = single-threaded). */
  threads: number;
  /** Why that many: a one-line explanation, also when threading was not possible. */
  reason: string;
}

export interface WasmThreadsOptions {
  /**
   * Folder holding the package's wasm-out/tfjs-backend-wasm-threaded-simd.js and .worker.js. Default: the folder
   * of this (possibly bundled) file, where esbuild.js copies them, else the installed package's wasm-out/.
   */
  wasmOutDir?: string;
}

interface Pending {
  requested: number;
  restore: () => void;
}
let pending: Pending | null = null;

interface NodeWorkerLike {
  unref(): void;
}
interface PThreadLike {
  runningWorkers: NodeWorkerLike[];
  unusedWorkers: NodeWorkerLike[];
}

function findWasmOutDir(explicit?: string): string {
  const candidates: string[] = [];
  if (explicit) candidates.push(explicit);
  else {
    // Bundled: esbuild.js copies both files into dist/ beside the bundle (same package version as bundled).
    candidates.push(__dirname);
    try {
      candidates.push(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out'));
    } catch {
      // not resolvable from a bundle shipped without node_modules
    }
  }
  for (const dir of candidates) {
    if (fs.existsSync(path.join(dir, GLUE)) && fs.existsSync(path.join(dir, WORKER))) return dir;
  }
  throw new Error(`wasm threads: ${GLUE} and ${WORKER} not found in: ${candidates.join(', ')}`);
}

/** The source of the ES module each pthread worker runs (see the header comment, step 2). */
export function pthreadWorkerSource(wasmOutDir: string): string {
  const gluePath = path.join(wasmOutDir, GLUE);
  const workerPath = path.join(wasmOutDir, WORKER);
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const contents: unknown = require(workerPath).wasmWorkerContents;
  if (typeof contents !== 'string') throw new Error(`wasm threads: ${workerPath} has no string wasmWorkerContents`);
  // The package's template literal turned the "\n" escapes of its minified source into real newlines; put the
  // escapes back exactly as dist/backend_wasm.js does before it makes its Blob.
  const workerJs = contents.replace(/\n/g, '\\n');
  return [
    `import { createRequire } from 'node:module';`,
    `import { readFileSync } from 'node:fs';`,
    `const gluePath = ${JSON.stringify(gluePath)};`,
    // The worker script and the glue are classic scripts that expect CommonJS globals.
    `globalThis.require = createRequire(gluePath);`,
    `globalThis.__filename = gluePath;`,
    `(0, eval)(${JSON.stringify(workerJs)});`,
    // Its 'load' handler calls importScripts(<blob: URL of an unusable Blob>): load the standalone glue instead,
    // which defines the global WasmBackendModuleThreadedSimd the handler then calls.
    `const glue = readFileSync(gluePath, 'utf8') + '\\n//# sourceURL=' + gluePath;`,
    `globalThis.importScripts = () => { (0, eval)(glue); };`,
  ].join('\n');
}

/** The wasm backend instance if it has initialized, without triggering its initialization. */
function initializedWasmBackend(): { wasm?: { PThread?: PThreadLike } } | undefined {
  return tf.engine().registry['wasm'] as unknown as { wasm?: { PThread?: PThreadLike } } | undefined;
}

/**
 * Call before `tf.setBackend('wasm')`. Sets the thread flag and count and installs the two temporary hooks;
 * `completeWasmThreads()` must follow once the backend has initialized (or failed to).
 * @param threads wanted XNNPACK threads; default: the machine's logical cores (capped at 8). 1 = single-threaded.
 */
export function prepareWasmThreads(threads?: number, options: WasmThreadsOptions = {}): WasmThreadsResult {
  if (pending) throw new Error('wasm threads: prepareWasmThreads called twice without completeWasmThreads');
  const cores = os.cpus().length;
  const wanted = threads ?? Math.min(cores, MAX_WASM_THREADS);
  if (!Number.isInteger(wanted) || wanted < 1 || wanted > MAX_WASM_THREADS) {
    throw new Error(`wasm threads: thread count must be an integer in 1..${MAX_WASM_THREADS}, got ${threads}`);
  }
  const source = wanted > 1 ? pthreadWorkerSource(findWasmOutDir(options.wasmOutDir)) : '';
  if (initializedWasmBackend()) {
    throw new Error('wasm threads: the wasm backend is already initialized; call prepareWasmThreads before tf.setBackend');
  }
  if (wanted === 1) {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    tfwasm.setThreadsCount(1);
    pending = { requested: 1, restore: () => undefined };
    return { threads: 1, reason: 'one thread requested' };
  }
  if (typeof SharedArrayBuffer !== 'function') {
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    pending = { requested: 1, restore: () => undefined };
    return { threads: 1, reason: 'single-threaded: SharedArrayBuffer is not available' };
  }
  const workerUrl = new URL('data:text/javascript,' + encodeURIComponent(source));

  const originalCreateObjectURL = URL.createObjectURL;
  const hookedCreateObjectURL = function (this: unknown, obj: Blob): string {
    // dist/backend_wasm.js makes exactly one kind of Blob URL: the pthread worker, type application/javascript.
    // Emscripten passes locateFile's answer straight to `new Worker(...)`, which takes a data: URL object.
    if (obj instanceof Blob && obj.type === 'application/javascript') return workerUrl as unknown as string;
    return originalCreateObjectURL.call(URL, obj);
  };
  URL.createObjectURL = hookedCreateObjectURL;

  // emscripten_num_logical_cores() (read once, by a C++ static initializer, during backend init) is
  // os.cpus().length in Node, and backend.cc caps threads at half of it.
  const originalCpus = os.cpus;
  const hookedCpus = (): os.CpuInfo[] => {
    const real = originalCpus.call(os);
    return Array.from({ length: 2 * wanted }, (_, i) => real[i % real.length]);
  };
  os.cpus = hookedCpus;

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  tfwasm.setThreadsCount(wanted);
  pending = {
    requested: wanted,
    restore: () => {
      if (URL.createObjectURL === hookedCreateObjectURL) URL.createObjectURL = originalCreateObjectURL;
      if (os.cpus === hookedCpus) os.cpus = originalCpus;
    },
  };
  return { threads: wanted, reason: `${wanted} threads requested on ${cores} logical cores` };
}

/**
 * Call after `await tf.setBackend('wasm')` (also when it failed): removes the hooks, lets Node exit with the
 * pthread workers alive, and reports the threads XNNPACK really uses.
 */
export function completeWasmThreads(): WasmThreadsResult {
  if (!pending) throw new Error('wasm threads: completeWasmThreads called without prepareWasmThreads');
  const { requested, restore } = pending;
  pending = null;
  restore();
  const backend = initializedWasmBackend();
  if (!backend || !backend.wasm) return { threads: 0, reason: 'the wasm backend did not initialize' };
  const pthread = backend.wasm.PThread;
  if (pthread) {
    // Emscripten ref()s a worker while it runs a pthread; XNNPACK's pool threads never finish, so without this
    // the process would never exit. Idle pool workers are already unref'd by the glue.
    for (const w of [...pthread.runningWorkers, ...pthread.unusedWorkers]) w.unref();
  }
  const threads = tfwasm.getThreadsCount();
  const build = pthread ? 'threaded-simd build' : 'single-threaded build';
  const reason =
    threads === requested
      ? `${threads} thread${threads > 1 ? 's' : ''} (${build})`
      : `${threads} thread(s) instead of the ${requested} requested (${build})`;
  return { threads, reason };
}

/**
 * prepare, `tf.setBackend('wasm')`, complete, in one call. Throws if the backend did not initialize.
 */
export async function initWasmThreaded(threads?: number, options: WasmThreadsOptions = {}): Promise<WasmThreadsResult> {
  prepareWasmThreads(threads, options);
  let ok = false;
  let result: WasmThreadsResult;
  try {
    ok = await tf.setBackend('wasm');
  } finally {
    result = completeWasmThreads();
  }
  if (!ok) throw new Error(`wasm threads: tf.setBackend('wasm') failed (${result.reason})`);
  return result;
}
