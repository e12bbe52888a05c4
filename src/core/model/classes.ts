// Class concepts of a model: the number of classes (computed once, at load) and class names.
import type { LayerInfo, NLModel } from './types';
import { nearest } from '../util/nearest';

/** The number of logits (the logits layer's per-image size), 0 without a logits layer. */
export function countClasses(layers: LayerInfo[], logitsLayer: string | null): number {
  const l = layers.find((x) => x.name === logitsLayer);
  return l ? l.outputShape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1) : 0;
}

/** The first synonym of class i's name (`tench, Tinca tinca` -> `tench`), if the model has names. */
export function className(model: NLModel, i: number): string | undefined {
  return model.classNames?.[i]?.split(',')[0].trim();
}

/** Class index from a number or a class name (case-insensitive; any comma-separated synonym matches). */
export function resolveClass(model: NLModel, s: string, spec: string): number {
  const logits = model.logitsLayer;
  if (!logits) throw new Error(`unit "${spec}": the model has no pre-softmax logits layer (none found automatically; set "logitsLayer" in neuron-lens.json)`);
  const n = model.classCount;
  if (/^\d+$/.test(s)) {
    const i = Number(s);
    if (i >= n) throw new Error(`class ${i} is out of range in unit "${spec}": layer "${logits}" has ${n} (0-${n - 1})`);
    return i;
  }
  const names = model.classNames;
  if (!names) throw new Error(`unit "${spec}": "${s}" is not a class index and the model has no class names (add labels to neuron-lens.json)`);
  const want = s.trim().toLowerCase();
  const hits = names.flatMap((full, i) => (full.toLowerCase() === want || full.toLowerCase().split(',').map((p) => p.trim()).includes(want) ? [i] : []));
  if (hits.length === 1) return hits[0];
  if (hits.length > 1) throw new Error(`unit "${spec}": class name "${s}" is ambiguous (${hits.slice(0, 5).join(', ')})`);
  throw new Error(`unit "${spec}": unknown class "${s}"; nearest: ${nearest(s, names).join('; ')}`);
}
