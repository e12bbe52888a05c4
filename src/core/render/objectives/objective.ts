// The objective contract: a function from the tapped activations of a batch to one score per batch element,
// and the combinators that build objectives from others.
//
// `evaluate` receives the activations of `layers`, in that order (what `model.tap(objective.layers, x)`
// returns), each [B, ...], and returns [B]. The visualization loop maximizes the sum over the batch. Most
// objectives score each element from its own activations; a batch objective (diversity) scores each element
// against the others. Combinators route each child the activations of its own layers.
import * as tf from '@tensorflow/tfjs-core';
import type { NLModel } from '../../model/types';
import type { Term, Unit } from './units';

export interface Objective {
  /** The layers whose activations `evaluate` takes, in order (no duplicates). */
  readonly layers: string[];
  /** [B] from the activations of `layers`. Creates new tensors only (call it inside a gradient scope). */
  evaluate(acts: tf.Tensor[]): tf.Tensor1D;
  /** Frees the constants it holds; also those of the objectives it was built from. */
  dispose(): void;
}

/** An objective of one layer's activations. */
export function layerObjective(layer: string, fn: (act: tf.Tensor) => tf.Tensor1D, dispose: () => void = () => {}): Objective {
  return { layers: [layer], evaluate: ([act]) => fn(act), dispose };
}

/** The sum of objectives (their scores added element by element). */
export function sum(...objectives: Objective[]): Objective {
  if (objectives.length === 0) throw new Error('sum of no objectives');
  if (objectives.length === 1) return objectives[0];
  const layers = [...new Set(objectives.flatMap((o) => o.layers))];
  const routes = objectives.map((o) => o.layers.map((l) => layers.indexOf(l)));
  return {
    layers,
    evaluate: (acts) => tf.tidy(() => objectives
      .map((o, i) => o.evaluate(routes[i].map((k) => acts[k])))
      .reduce((a, b) => tf.add(a, b))),
    dispose: () => objectives.forEach((o) => o.dispose()),
  };
}

/** `k` times an objective; `k` is a number or one factor per batch element. */
export function scale(k: number | number[], o: Objective): Objective {
  return {
    layers: o.layers,
    evaluate: (acts) => tf.tidy(() => tf.mul(o.evaluate(acts), typeof k === 'number' ? k : tf.tensor1d(k))),
    dispose: () => o.dispose(),
  };
}

export function negate(o: Objective): Objective {
  return scale(-1, o);
}

/**
 * The linear terms of a batch of units as one constant weight mask per layer: element b's value is
 * sum over layers of sum(activation[b] * W[b]). One multiply-add per layer however many units and kinds.
 */
export function maskObjective(model: NLModel, units: Unit[]): Objective | null {
  const linear = units.map((u) => u.terms.filter((t) => t.addMask));
  const layers = [...new Set(linear.flat().map((t) => t.layer))];
  if (layers.length === 0) return null;
  const weights = layers.map((name) => {
    const info = model.layers.find((l) => l.name === name)!;
    // Per-image shape: logits are flattened to [N]; other layers keep theirs.
    const shape = name === model.logitsLayer
      ? [info.outputShape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1)]
      : info.outputShape.slice(1) as number[];
    const size = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(units.length * size);
    linear.forEach((terms, b) => {
      for (const t of terms) if (t.layer === name) t.addMask!(data, b * size, shape, t.weight);
    });
    return tf.tensor(data, [units.length, ...shape]);
  });
  return {
    layers,
    evaluate: (acts) => tf.tidy(() => acts
      .map((a, i) => {
        const w = weights[i];
        const x = a.rank === w.rank ? a : tf.reshape(a, w.shape);
        return tf.sum(tf.mul(x, w), Array.from({ length: w.rank - 1 }, (_, k) => k + 1));
      })
      .reduce((p, q) => tf.add(p, q)) as tf.Tensor1D),
    dispose: () => weights.forEach((w) => w.dispose()),
  };
}

/**
 * The objective of a batch of units, element b scoring units[b]: every linear term in one weight mask, and
 * each distinct non-linear term (by spec) once for the whole batch, scaled per element by its weight there.
 */
export function unitObjective(model: NLModel, units: Unit[]): Objective {
  const parts: Objective[] = [];
  const mask = maskObjective(model, units);
  if (mask) parts.push(mask);
  const nonLinear = new Map<string, { term: Term; weights: number[] }>();
  units.forEach((u, b) => {
    for (const t of u.terms) {
      if (!t.evaluate) continue;
      const key = `${t.layer}\u0000${t.spec}`;
      if (!nonLinear.has(key)) nonLinear.set(key, { term: t, weights: new Array(units.length).fill(0) });
      nonLinear.get(key)!.weights[b] += t.weight;
    }
  });
  for (const { term, weights } of nonLinear.values()) parts.push(scale(weights, layerObjective(term.layer, term.evaluate!)));
  if (parts.length === 0) throw new Error('no objective: the units have no terms');
  return sum(...parts);
}
