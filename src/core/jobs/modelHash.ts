// A model's identity for result caches: the bytes of every file it was loaded from, exactly as they were read.
import * as crypto from 'crypto';
import * as path from 'path';
import type { NLModel } from '../model';

/**
 * sha256 over the files the model was loaded from (`model.files`: the model file, weight shards and external data,
 * configs, labels, the neuron-lens.json sidecar): each file's path inside the model folder, size and the hash of
 * the bytes read from it. Computed from what was read at load time, so the key always describes the model that runs.
 */
export function hashModel(model: NLModel): string {
  const h = crypto.createHash('sha256');
  const dir = path.dirname(model.source);
  for (const f of model.files) h.update(`${path.relative(dir, f.path)}\0${f.size}\0${f.sha256}\n`);
  return h.digest('hex');
}
