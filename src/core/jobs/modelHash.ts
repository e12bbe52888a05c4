// A model's identity for result caches: the bytes of everything that defines what it computes.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';

/** sha256 over the model file, the weight files its manifest names, and the neuron-lens.json sidecar. */
export function hashModel(file: string): string {
  const h = crypto.createHash('sha256');
  const text = fs.readFileSync(file);
  h.update(text);
  const dir = path.dirname(file);
  try {
    const json = JSON.parse(text.toString('utf8'));
    for (const group of Array.isArray(json.weightsManifest) ? json.weightsManifest : []) {
      for (const p of Array.isArray(group.paths) ? group.paths : []) {
        const f = path.resolve(dir, String(p));
        if (f.startsWith(dir + path.sep) && fs.existsSync(f)) h.update(fs.readFileSync(f));
      }
    }
  } catch {
    // not JSON: the file bytes alone identify it
  }
  const sidecar = path.join(dir, 'neuron-lens.json');
  if (fs.existsSync(sidecar)) h.update(fs.readFileSync(sidecar));
  return h.digest('hex');
}
