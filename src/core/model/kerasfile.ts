// Keras model files, read directly in Node (HDF5 through h5wasm, zip through fflate; no Python):
// - `.keras` (Keras 3): a zip of `config.json`, `metadata.json` and `model.weights.h5`, whose variables sit at
//   `layers/<class name in snake case>[_n]/vars/<i>` in `get_weights()` order (n counts layers of the same
//   class in model order; sublayers nest, e.g. `layers/multi_head_attention/query_dense/vars/0`);
// - legacy `.h5` (Keras 2, and Keras 3's `model.save('m.h5')`): root attribute `model_config` (JSON) and group
//   `model_weights` with attribute `layer_names`, each layer group with `weight_names` (`conv1/kernel:0`).
// Loading is data only: zip entries are read by name into memory (never extracted), the HDF5 file lives in
// h5wasm's in-memory file system, sizes are checked before allocation, and custom or Lambda layers are refused
// by name (the interpreter in keras.ts runs only the layer classes it knows).
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { unzipSync, type UnzipFileInfo } from 'fflate';
import type * as H5 from 'h5wasm';
import { KerasGraph, kerasWeightNames, MHA_PARTS, type KerasTopology, type LayerWeights } from './keras';
import { fromKerasGraph } from './tfjs';
import type { ImportedGraph } from './types';
import type { ModelFolder } from './folder';

/** Largest model file accepted (the HDF5 reader holds it in a 32-bit wasm heap). */
export const MAX_KERAS_FILE_BYTES = 1.5 * 2 ** 30;
/** Largest total of decoded weights (float32 bytes). */
export const MAX_KERAS_WEIGHT_BYTES = 2 ** 31;
/** Largest `config.json` / `metadata.json` inside a `.keras` archive. */
const MAX_JSON_BYTES = 64 * 2 ** 20;

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

let h5Ready: Promise<typeof H5> | undefined;

/** h5wasm (an ES module) loaded once, with HDF5 errors turned into exceptions instead of stderr prints. */
function h5wasm(): Promise<typeof H5> {
  h5Ready ??= (async () => {
    const mod: typeof H5 = await import('h5wasm');
    const m = await mod.ready;
    m.activate_throwing_error_handler();
    return mod;
  })();
  return h5Ready;
}

/** The last line of an HDF5 error stack (the actual cause), e.g. "truncated file: eof = 3000, ...". */
function hdf5Cause(e: unknown): string {
  const msg = String((e as Error)?.message ?? e);
  const lines = msg.split('\n').map((l) => l.trim()).filter((l) => /^#\d+:/.test(l));
  const last = lines[lines.length - 1];
  return last ? last.replace(/^#\d+:.*?\(\): /, '') : msg.split('\n')[0];
}

let memCounter = 0;

/** Opens HDF5 bytes in h5wasm's in-memory file system, runs `f`, and always closes and frees it. */
async function withH5<T>(bytes: Uint8Array, what: string, f: (file: H5.File) => T): Promise<T> {
  if (!HDF5_SIGNATURE.every((b, i) => bytes[i] === b)) {
    throw new Error(`${what} is not an HDF5 file (no HDF5 signature at the start)`);
  }
  const h5 = await h5wasm();
  const FS = h5.FS!;
  const mem = `/neuron-lens-${process.pid}-${++memCounter}.h5`;
  FS.writeFile(mem, bytes);
  let file: H5.File | undefined;
  try {
    try {
      file = new h5.File(mem, 'r');
    } catch (e) {
      throw new Error(`${what} is not a readable HDF5 file (corrupt or truncated): ${hdf5Cause(e)}`);
    }
    if (file.file_id < 0n) throw new Error(`${what} is not a readable HDF5 file (corrupt or truncated)`);
    try {
      return f(file);
    } catch (e) {
      if ((e as Error)?.message?.includes('HDF5')) throw new Error(`${what}: HDF5 read error (corrupt or truncated file): ${hdf5Cause(e)}`);
      throw e;
    }
  } finally {
    try { file?.close(); } catch { /* already failed; the file is freed below */ }
    FS.unlink(mem);
  }
}

/** The model file's bytes, read through the model folder; refused before reading when over the HDF5 reader's limit. */
function readFileChecked(file: string, folder: ModelFolder): Uint8Array {
  const f = folder.open(path.basename(file), 'Keras model file');
  try {
    if (f.size > MAX_KERAS_FILE_BYTES) throw new Error(`${file} is ${f.size} bytes; Keras files over ${MAX_KERAS_FILE_BYTES} bytes are not supported`);
    return f.read(0, f.size, file);
  } finally {
    f.close();
  }
}

/** A string attribute (h5py writes fixed-length byte strings, h5wasm variable-length ones). */
function attrString(obj: H5.Group | H5.File, name: string): string | undefined {
  const a = obj.attrs[name];
  if (!a) return undefined;
  const v = a.value;
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
  return undefined;
}

/** A list-of-strings attribute; Keras splits long ones into `name0`, `name1`, ... */
function attrStrings(obj: H5.Group, name: string, where: string): string[] {
  const keys = Object.keys(obj.attrs);
  const parts = keys.includes(name) ? [name] : keys.filter((k) => new RegExp(`^${name}\\d+$`).test(k))
    .sort((a, b) => Number(a.slice(name.length)) - Number(b.slice(name.length)));
  const out: string[] = [];
  for (const p of parts) {
    const v = obj.attrs[p].value;
    if (ArrayBuffer.isView(v) && !(v instanceof Uint8Array) && (v as Float64Array).length === 0) continue; // h5py's empty list: a float array of length 0
    const list = Array.isArray(v) ? v : [v];
    for (const s of list) {
      if (typeof s === 'string') out.push(s);
      else if (s instanceof Uint8Array) out.push(new TextDecoder().decode(s));
      else throw new Error(`${where}: attribute "${p}" is not a list of strings`);
    }
  }
  return out;
}

/** A relative name inside a group: no leading '/', no '.' or '..' parts (that would leave the group). */
function checkInside(name: string, where: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.startsWith('/') || name.includes('\0') ||
      name.split('/').some((p) => p === '..' || p === '.' || p === '')) {
    throw new Error(`${where}: name "${name}" leaves its group (only plain relative names are accepted)`);
  }
}

interface Budget { left: number }

function datasetTensor(obj: H5.Entity | null, where: string, budget: Budget): tf.Tensor {
  if (!obj || !(obj as H5.Dataset).metadata || typeof (obj as H5.Dataset).shape === 'undefined') throw new Error(`${where}: missing dataset`);
  const ds = obj as H5.Dataset;
  const m = ds.metadata;
  const shape = ds.shape ?? [];
  if (m.type !== 1 || (m.size !== 4 && m.size !== 8)) {
    throw new Error(`${where}: weights of type ${ds.dtype} are not supported (float32 or float64 only)`);
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${where}: bad shape ${JSON.stringify(shape)}`);
  budget.left -= n * 4;
  if (budget.left < 0) throw new Error(`${where}: the weights exceed ${MAX_KERAS_WEIGHT_BYTES} bytes`);
  const v = ds.value;
  if (!(v instanceof Float32Array) && !(v instanceof Float64Array)) throw new Error(`${where}: unreadable float data`);
  if (v.length !== n) throw new Error(`${where}: holds ${v.length} values, its shape ${JSON.stringify(shape)} needs ${n}`);
  return tf.tensor(v instanceof Float32Array ? v : Float32Array.from(v), shape, 'float32');
}

/** Keras' `naming.to_snake_case` (class name -> saved-state folder name). */
export function toSnakeCase(name: string): string {
  return name.replace(/\W+/g, '').replace(/(.)([A-Z][a-z]+)/g, '$1_$2').replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

const KERAS_MODULE = /^(keras|tf_keras|tensorflow\.keras|tensorflow\.python\.keras)(\.|$)/;

/**
 * The model topology of a Keras config (Keras 2 or 3), checked: every class comes from Keras itself (a class
 * registered from user code is refused by name), activations are plain names.
 */
export function kerasTopology(cfg: any, file: string): KerasTopology {
  if (!cfg || typeof cfg !== 'object' || typeof cfg.class_name !== 'string') throw new Error(`${file}: the model config has no "class_name"`);
  const origin = (o: any, what: string): void => {
    const mod = o.module;
    const reg = o.registered_name;
    if ((typeof mod === 'string' && !KERAS_MODULE.test(mod)) || (typeof reg === 'string' && reg.includes('>'))) {
      throw new Error(`${file}: ${what} is the custom class "${reg ?? o.class_name}"${typeof mod === 'string' ? ` from module "${mod}"` : ''}; custom layers cannot be loaded (no code from the model file is run)`);
    }
  };
  origin(cfg, `the model (${cfg.class_name})`);
  const config = cfg.config ?? {};
  const rawLayers: any[] = Array.isArray(config) ? config : config.layers;
  if (!Array.isArray(rawLayers)) throw new Error(`${file}: the model config has no layer list`);
  const layers = rawLayers.map((l: any) => {
    const name = l?.name ?? l?.config?.name;
    if (!l || typeof l.class_name !== 'string' || typeof name !== 'string') throw new Error(`${file}: a layer in the model config has no class_name or name`);
    const where = `layer "${name}" (${l.class_name})`;
    origin(l, where);
    const c = { ...(l.config ?? {}) };
    if (c.activation && typeof c.activation === 'object') {
      origin(c.activation, `the activation of ${where}`);
      const a = c.activation;
      c.activation = typeof a.config === 'string' ? a.config : a.config?.name ?? a.class_name;
    }
    if (c.batch_shape && !c.batch_input_shape) c.batch_input_shape = c.batch_shape;
    return { ...l, name, config: c };
  });
  return { class_name: cfg.class_name, config: Array.isArray(config) ? layers : { ...config, layers } };
}

/** Layer name -> class and config, from a topology. */
function layerTable(topo: KerasTopology): { name: string; className: string; config: any }[] {
  const layers: any[] = Array.isArray(topo.config) ? topo.config : topo.config.layers;
  return layers.map((l) => ({ name: l.name ?? l.config?.name, className: l.class_name, config: l.config ?? {} }));
}

function disposeAll(weights: Map<string, LayerWeights>): void {
  for (const w of weights.values()) for (const t of w.values()) t.dispose();
}

/** Weights of a legacy `.h5` file, by layer and Keras weight name (assigned in `get_weights()` order). */
function legacyWeights(f: H5.File, topo: KerasTopology, file: string): Map<string, LayerWeights> {
  const mwEntity = f.get('model_weights');
  if (!mwEntity || !(mwEntity as H5.Group).keys) throw new Error(`${file}: no "model_weights" group (not a Keras model file)`);
  const mw = mwEntity as H5.Group;
  const table = new Map(layerTable(topo).map((l) => [l.name, l]));
  const out = new Map<string, LayerWeights>();
  const budget: Budget = { left: MAX_KERAS_WEIGHT_BYTES };
  try {
    const seen = new Set<string>();
    for (const name of attrStrings(mw, 'layer_names', `${file}: model_weights`)) {
      checkInside(name, `${file}: model_weights layer`);
      if (seen.has(name)) throw new Error(`${file}: layer "${name}" is listed twice in model_weights/layer_names; layer names must be unique`);
      seen.add(name);
      const g = mw.get(name) as H5.Group | null;
      if (!g || !g.keys) throw new Error(`${file}: layer "${name}" is listed in layer_names but has no weights group`);
      const wnames = attrStrings(g, 'weight_names', `${file}: layer "${name}"`);
      const twice = wnames.find((w, i) => wnames.indexOf(w) !== i);
      if (twice !== undefined) throw new Error(`${file}: layer "${name}" lists weight "${twice}" twice in weight_names; weight names must be unique`);
      if (wnames.length === 0) continue;
      const layer = table.get(name);
      if (!layer) throw new Error(`${file}: weights for layer "${name}", which the model config does not have`);
      const keys = kerasWeightNames(layer.className, layer.config);
      if (keys.length === 0) continue; // state the forward pass does not use (e.g. seed generators)
      if (wnames.length < keys.length) {
        throw new Error(`${file}: layer "${name}" (${layer.className}) stores ${wnames.length} weights, expected ${keys.length} (${keys.join(', ')})`);
      }
      const w: LayerWeights = new Map();
      out.set(name, w);
      keys.forEach((key, i) => {
        const where = `${file}: layer "${name}" weight "${wnames[i]}"`;
        checkInside(wnames[i], where);
        w.set(key, datasetTensor(g.get(wnames[i]), where, budget));
      });
    }
  } catch (e) {
    disposeAll(out);
    throw e;
  }
  return out;
}

/** Weights of a Keras 3 `model.weights.h5`, found by the saved-state paths Keras derives from the layer list. */
function keras3Weights(f: H5.File, topo: KerasTopology, what: string): Map<string, LayerWeights> {
  const root = f.get('layers') ? 'layers' : f.get('_layer_checkpoint_dependencies') ? '_layer_checkpoint_dependencies' : null;
  if (!root) throw new Error(`${what}: no "layers" group (not a Keras 3 weights file)`);
  const out = new Map<string, LayerWeights>();
  const used = new Map<string, number>();
  const budget: Budget = { left: MAX_KERAS_WEIGHT_BYTES };
  const vars = (p: string, count: number, where: string): tf.Tensor[] => {
    const g = f.get(`${p}/vars`) as H5.Group | null;
    if (!g || !g.keys) throw new Error(`${where}: no weights at "${p}/vars"`);
    const have = g.keys().length;
    if (have < count) throw new Error(`${where}: "${p}/vars" holds ${have} weights, expected ${count}`);
    return Array.from({ length: count }, (_, i) => datasetTensor(g.get(String(i)), `${where} "${p}/vars/${i}"`, budget));
  };
  try {
    for (const layer of layerTable(topo)) {
      const snake = toSnakeCase(layer.className);
      const k = used.get(snake);
      used.set(snake, (k ?? -1) + 1);
      const p = `${root}/${k === undefined ? snake : `${snake}_${k + 1}`}`;
      const keys = kerasWeightNames(layer.className, layer.config);
      if (keys.length === 0) continue;
      const where = `${what}: layer "${layer.name}" (${layer.className})`;
      const w: LayerWeights = new Map();
      out.set(layer.name, w);
      if (layer.className === 'MultiHeadAttention') {
        // Sublayers are saved under their attribute names: `query_dense` (newer Keras) or `_query_dense`.
        const perPart = layer.config.use_bias === false ? 1 : 2;
        for (const part of MHA_PARTS) {
          const attr = part === 'attention_output' ? 'output_dense' : `${part}_dense`;
          const sub = [`${p}/${attr}`, `${p}/_${attr}`].find((s) => f.get(`${s}/vars`));
          if (!sub) throw new Error(`${where}: no weights for its ${part} projection at "${p}/${attr}/vars"`);
          const ts = vars(sub, perPart, where);
          w.set(`${part}/kernel`, ts[0]);
          if (perPart === 2) w.set(`${part}/bias`, ts[1]);
        }
      } else {
        vars(p, keys.length, where).forEach((t, i) => w.set(keys[i], t));
      }
    }
  } catch (e) {
    disposeAll(out);
    throw e;
  }
  return out;
}

function isUnsafeEntry(name: string): boolean {
  return name.startsWith('/') || name.includes('\\') || /^[a-z]:/i.test(name) || name.split('/').some((p) => p === '..');
}

/** The entries of a `.keras` zip that the loader reads, each checked before it is inflated. */
function readKerasArchive(file: string, folder: ModelFolder): { config: any; weights: Uint8Array } {
  const bytes = readFileChecked(file, folder);
  if (!(bytes[0] === 0x50 && bytes[1] === 0x4b)) throw new Error(`${file} is not a .keras archive (not a zip file)`);
  const wanted: Record<string, number> = { 'config.json': MAX_JSON_BYTES, 'metadata.json': MAX_JSON_BYTES, 'model.weights.h5': MAX_KERAS_FILE_BYTES };
  const names: string[] = [];
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(bytes, {
      filter: (info: UnzipFileInfo) => {
        names.push(info.name);
        if (isUnsafeEntry(info.name)) throw new Error(`${file}: archive entry "${info.name}" has an unsafe path (absolute or with "..")`);
        const max = wanted[info.name];
        if (max === undefined) return false;
        if (info.originalSize > max) throw new Error(`${file}: archive entry "${info.name}" declares ${info.originalSize} bytes (limit ${max})`);
        return true;
      },
    });
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.startsWith(file)) throw e;
    throw new Error(`${file} is not a readable .keras archive (corrupt or truncated zip): ${msg}`);
  }
  if (!entries['config.json']) throw new Error(`${file}: the archive has no config.json (entries: ${names.slice(0, 10).join(', ') || 'none'})`);
  if (!entries['model.weights.h5']) {
    const npz = names.includes('model.weights.npz');
    throw new Error(`${file}: the archive has no model.weights.h5${npz ? ' (weights saved as .npz are not supported; save with the default h5 weights format)' : ''}`);
  }
  let config: any;
  try { config = JSON.parse(new TextDecoder().decode(entries['config.json'])); } catch (e) {
    throw new Error(`${file}: config.json is not valid JSON: ${(e as Error).message}`);
  }
  return { config, weights: entries['model.weights.h5'] };
}

function buildGraph(topo: KerasTopology, weights: Map<string, LayerWeights>, file: string): KerasGraph {
  try {
    return new KerasGraph(topo, weights);
  } catch (e) {
    disposeAll(weights);
    throw new Error(`${file}: ${(e as Error).message}`);
  }
}

/** Loads a Keras `.keras` or legacy `.h5` model file. */
export async function importKerasFile(file: string, folder: ModelFolder): Promise<ImportedGraph> {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.keras') {
    const { config, weights: h5bytes } = readKerasArchive(file, folder);
    const topo = kerasTopology(config, file);
    const weights = await withH5(h5bytes, `${file}: model.weights.h5`, (f) => keras3Weights(f, topo, `${file}: model.weights.h5`));
    return fromKerasGraph(buildGraph(topo, weights, file), 'keras', file);
  }
  if (ext === '.h5' || ext === '.hdf5') {
    const bytes = readFileChecked(file, folder);
    const { topo, weights } = await withH5(bytes, file, (f) => {
      const mc = attrString(f, 'model_config');
      if (mc === undefined) {
        throw new Error(`${file} has no "model_config": it holds weights only (save the whole model with model.save("model.keras") or model.save("model.h5"))`);
      }
      let cfg: any;
      try { cfg = JSON.parse(mc); } catch (e) { throw new Error(`${file}: model_config is not valid JSON: ${(e as Error).message}`); }
      const topo = kerasTopology(cfg, file);
      return { topo, weights: legacyWeights(f, topo, file) };
    });
    return fromKerasGraph(buildGraph(topo, weights, file), 'keras', file);
  }
  throw new Error(`${file}: not a Keras model file (expected .keras or .h5)`);
}
