// Reading TF.js weight manifests from the model's folder (./folder.ts): paths cannot leave it, sizes and byte
// ownership are checked before anything is allocated, and errors name the file and the weight.
import * as tf from '@tensorflow/tfjs-core';
import type { LayerWeights } from './keras';
import type { ModelFolder } from './folder';

export interface WeightsManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one manifest entry occupies in the weight files. */
function entryBytes(e: tf.io.WeightsManifestEntry, modelFile: string): number {
  if (!e || typeof e.name !== 'string') throw new Error(`${modelFile}: a weights manifest entry has no "name"`);
  const dtype = e.quantization?.dtype ?? e.dtype;
  const per = DTYPE_BYTES[dtype];
  if (per === undefined) throw new Error(`${modelFile}: weight "${e.name}" has unsupported dtype "${dtype}"`);
  const n = Array.isArray(e.shape) && e.shape.every((d) => Number.isSafeInteger(d) && d >= 0) ? e.shape.reduce((a, b) => a * b, 1) : NaN;
  if (!Number.isSafeInteger(n * per)) throw new Error(`${modelFile}: weight "${e.name}" has a bad shape ${JSON.stringify(e.shape)}`);
  return n * per;
}

/** A range of a weight file, and where it goes in the weight data. */
interface Piece {
  rel: string;
  offset: number;
  length: number;
}

/**
 * Reads and decodes every weight of a manifest, from files inside the model folder. Everything is checked before a
 * weight byte is read: weight names are unique, each group's files hold the bytes its entries declare, no byte of a
 * file belongs to two weights (e.g. groups listing the same shard), and the total fits the model byte budget. Only the
 * bytes the entries declare are read (a group's files may be longer).
 */
export function readWeights(modelFile: string, manifest: WeightsManifestGroup[], folder: ModelFolder): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  if (!Array.isArray(manifest)) throw new Error(`${modelFile}: "weightsManifest" is missing or not a list`);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const names = new Set<string>();
  const pieces: Piece[] = [];
  let total = 0;
  for (const group of manifest) {
    if (!group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) throw new Error(`${modelFile}: a weights manifest group lacks "paths" or "weights"`);
    const sizes = group.weights.map((e) => entryBytes(e, modelFile));
    const expected = sizes.reduce((a, b) => a + b, 0);
    const files = group.paths.map((p) => {
      let rel: string;
      try { rel = decodeURIComponent(String(p)); } catch {
        throw new Error(`${modelFile}: weight path "${p}" has a malformed %-escape`);
      }
      const f = folder.open(rel, 'weight shard', modelFile);
      f.close();
      return { rel, f };
    });
    const found = files.reduce((s, { f }) => s + f.size, 0);
    if (found < expected) {
      throw new Error(`${modelFile}: weight shards ${group.paths.join(', ')} hold ${found} bytes but the manifest needs ${expected} (truncated or wrong files)`);
    }
    // The group's entries lie one after another across its files: claim each entry's bytes in each file it spans.
    let pos = 0;
    group.weights.forEach((e, i) => {
      if (names.has(e.name)) throw new Error(`${modelFile}: weight "${e.name}" is listed twice in the weights manifest; weight names must be unique`);
      names.add(e.name);
      let start = 0;
      for (const { f } of files) {
        const begin = Math.max(pos, start);
        const end = Math.min(pos + sizes[i], start + f.size);
        if (begin < end) f.claim(begin - start, end - start, `weight "${e.name}"`);
        start += f.size;
      }
      pos += sizes[i];
      specs.push(e);
    });
    // A group's bytes beyond what its entries need are not read (they would shift the next group).
    let start = 0;
    for (const { rel, f } of files) {
      const length = Math.min(f.size, expected - start);
      if (length > 0) pieces.push({ rel, offset: 0, length });
      start += f.size;
    }
    total += expected;
  }
  const data = folder.alloc(total, `${modelFile}: weights`);
  let at = 0;
  for (const { rel, offset, length } of pieces) {
    const f = folder.open(rel, 'weight shard', modelFile);
    try {
      f.read(offset, length, `${modelFile}: weight shard`, data, at);
    } finally {
      f.close();
    }
    at += length;
  }
  return { specs, data: (data.buffer.byteLength === total ? data.buffer : data.buffer.slice(data.byteOffset, data.byteOffset + total)) as ArrayBuffer };
}

/** Groups named weights (`layer/kernel`, `model/layer/kernel:0`) by layer name, keyed by weight name. */
export function groupByLayer(named: tf.NamedTensorMap, layerNames: Set<string>): Map<string, LayerWeights> {
  const out = new Map<string, LayerWeights>();
  for (const [full, t] of Object.entries(named)) {
    const clean = full.replace(/:\d+$/, '');
    const parts = clean.split('/');
    const key = parts[parts.length - 1];
    let layer = parts.slice(0, -1).join('/');
    if (!layerNames.has(layer)) {
      // Nested names: pick the longest suffix of the prefix that is a layer name.
      for (let i = 1; i < parts.length - 1; i++) {
        const cand = parts.slice(i, -1).join('/');
        if (layerNames.has(cand)) { layer = cand; break; }
      }
    }
    if (!out.has(layer)) out.set(layer, new Map());
    out.get(layer)!.set(key, t);
  }
  return out;
}
