// Reading TF.js weight manifests from a local folder: paths cannot leave the model's folder, sizes are
// checked before anything is allocated, and errors name the file.
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayerWeights } from './keras';

export interface WeightsManifestGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one manifest entry occupies in the weight files. */
function entryBytes(e: tf.io.WeightsManifestEntry, modelFile: string): number {
  const n = e.shape.reduce((a, b) => a * b, 1);
  const dtype = e.quantization?.dtype ?? e.dtype;
  const per = DTYPE_BYTES[dtype];
  if (per === undefined) throw new Error(`${modelFile}: weight "${e.name}" has unsupported dtype "${dtype}"`);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${modelFile}: weight "${e.name}" has a bad shape ${JSON.stringify(e.shape)}`);
  return n * per;
}

/** Resolves a manifest path inside `dir`, refusing absolute paths, URLs and `..` escapes. */
export function resolveInside(dir: string, rel: string, modelFile: string): string {
  if (typeof rel !== 'string' || rel.length === 0) throw new Error(`${modelFile}: empty weight file path in the manifest`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(rel) || path.isAbsolute(rel)) {
    throw new Error(`${modelFile}: weight path "${rel}" is not a relative path inside the model folder`);
  }
  const root = path.resolve(dir);
  const full = path.resolve(root, decodeURIComponent(rel));
  if (full !== root && !full.startsWith(root + path.sep)) {
    throw new Error(`${modelFile}: weight path "${rel}" leaves the model folder`);
  }
  return full;
}

/** Reads and decodes every weight of a manifest. */
export function readWeights(modelFile: string, manifest: WeightsManifestGroup[]): { specs: tf.io.WeightsManifestEntry[]; data: ArrayBuffer } {
  if (!Array.isArray(manifest)) throw new Error(`${modelFile}: "weightsManifest" is missing or not a list`);
  const dir = path.dirname(modelFile);
  const specs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Buffer[] = [];
  for (const group of manifest) {
    if (!Array.isArray(group.paths) || !Array.isArray(group.weights)) throw new Error(`${modelFile}: a weights manifest group lacks "paths" or "weights"`);
    const expected = group.weights.reduce((s, e) => s + entryBytes(e, modelFile), 0);
    let found = 0;
    const files = group.paths.map((p) => {
      const full = resolveInside(dir, p, modelFile);
      let size: number;
      try { size = fs.statSync(full).size; } catch {
        throw new Error(`missing weight shard: ${full} (listed in ${modelFile})`);
      }
      found += size;
      return full;
    });
    if (found < expected) {
      throw new Error(`${modelFile}: weight shards ${group.paths.join(', ')} hold ${found} bytes but the manifest needs ${expected} (truncated or wrong files)`);
    }
    for (const f of files) buffers.push(fs.readFileSync(f));
    // A group's bytes beyond what its entries need would shift the next group: cut them off.
    const total = Buffer.concat(buffers.splice(buffers.length - files.length));
    buffers.push(total.subarray(0, expected));
    specs.push(...group.weights);
  }
  const all = Buffer.concat(buffers);
  return { specs, data: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) as ArrayBuffer };
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
