// Diversity (Lucid's `diversity`, Olah et al. 2017): several images of one unit, optimized together, each
// pushed away from the others in style: element i of a group of n copies scores
//   -1/(n-1) * sum_{j != i} cos(G_i, G_j)
// where G_i is the Gram matrix (channels x channels, summed over positions) of copy i's activation at a layer.
// Summed over the group that is -n times the mean pairwise cosine similarity.
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, NLModel } from '../../model/types';
import { nearest } from '../../util/nearest';
import type { Objective } from './objective';
import type { Unit } from './units';

export interface DiversityGroup {
  /** First batch element of the group; its copies are elements start .. start + count - 1. */
  start: number;
  count: number;
  /** The layer whose Gram matrices are compared. */
  layer: string;
}

const isFeatureMap = (l: LayerInfo) => l.outputShape.length === 4 && (l.outputShape[1] ?? 0) * (l.outputShape[2] ?? 0) >= 4;

/**
 * Where to compare a unit's copies: `layer` if given (checked), else the layer of the unit's first term when it
 * has positions (a feature map or a token sequence), else (logits, dense layers) the model's last feature map
 * with at least 2x2 positions.
 */
export function diversityLayer(model: NLModel, unit: Unit, layer?: string): string {
  if (layer !== undefined) {
    const info = model.layers.find((l) => l.name === layer);
    if (!info) throw new Error(`--diversity-layer: unknown layer "${layer}"; nearest: ${nearest(layer, model.layers.map((l) => l.name)).join(', ')}`);
    if (info.outputShape.length < 3) throw new Error(`--diversity-layer: "${layer}" has shape ${JSON.stringify(info.outputShape)}; the Gram matrix needs positions: pick a [batch, height, width, channels] or [batch, tokens, dim] layer`);
    return layer;
  }
  const own = model.layers.find((l) => l.name === unit.terms[0].layer)!;
  if (own.name !== model.logitsLayer && own.outputShape.length >= 3) return own.name;
  const last = [...model.layers].reverse().find(isFeatureMap);
  if (!last) throw new Error(`unit "${unit.spec}": its layer "${own.name}" has no positions and the model has no feature map to compare copies at; pass --diversity-layer`);
  return last.name;
}

/**
 * Cosine similarities [n, n] of the Gram matrices of n activations [n, P, C]. With fewer positions than
 * channels it never forms the Grams: <G_i, G_j> = ||F_i F_j^T||^2, an (nP)^2 C product instead of n P C^2.
 */
function gramCosines(f: tf.Tensor3D): tf.Tensor2D {
  const [n, p, c] = f.shape;
  let inner: tf.Tensor2D;
  if (c <= n * p) {
    const g = tf.reshape(tf.matMul(f, f, true, false), [n, c * c]);
    inner = tf.matMul(g, g, false, true);
  } else {
    const x = tf.reshape(f, [n * p, c]);
    const k = tf.reshape(tf.matMul(x, tf.transpose(x)), [n, p, n, p]);
    inner = tf.sum(tf.square(k), [1, 3]) as tf.Tensor2D;
  }
  const norms = tf.sqrt(tf.add(tf.sum(tf.mul(inner, tf.eye(n)), 1), 1e-20));
  return tf.div(inner, tf.mul(tf.reshape(norms, [n, 1]), tf.reshape(norms, [1, n])));
}

/** The diversity term of a batch of `batch` elements: each group's copies against each other, times `weight`. */
export function diversityObjective(groups: DiversityGroup[], batch: number, weight: number): Objective {
  const sorted = [...groups].sort((a, b) => a.start - b.start);
  sorted.forEach((g, i) => {
    if (g.count < 2) throw new Error(`diversity group at ${g.start} has ${g.count} copies; it needs at least 2`);
    if (g.start < (i ? sorted[i - 1].start + sorted[i - 1].count : 0) || g.start + g.count > batch) throw new Error('diversity groups overlap or leave the batch');
  });
  const layers = [...new Set(sorted.map((g) => g.layer))];
  return {
    layers,
    evaluate: (acts) => tf.tidy(() => {
      const pieces: tf.Tensor1D[] = [];
      let at = 0;
      for (const g of sorted) {
        if (g.start > at) pieces.push(tf.zeros([g.start - at]));
        const act = acts[layers.indexOf(g.layer)];
        const c = act.shape[act.rank - 1];
        const f = tf.reshape(tf.slice(act, g.start, g.count), [g.count, -1, c]) as tf.Tensor3D;
        const others = tf.sub(tf.ones([g.count, g.count]), tf.eye(g.count));
        const meanCos = tf.div(tf.sum(tf.mul(gramCosines(f), others), 1), g.count - 1);
        pieces.push(tf.mul(meanCos, -weight) as tf.Tensor1D);
        at = g.start + g.count;
      }
      if (at < batch) pieces.push(tf.zeros([batch - at]));
      return tf.concat(pieces) as tf.Tensor1D;
    }),
    dispose: () => {},
  };
}
