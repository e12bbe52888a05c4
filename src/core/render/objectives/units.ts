// What a unit spec parses into, and the helpers every unit kind's parser shares.
import type * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, NLModel } from '../../model/types';
import { nearest } from '../../util/nearest';

/**
 * One term of a unit: what one kind parsed, with the weight it has in its unit. A term is either linear in
 * the activations of its layer (`addMask`: it joins the batch's one weight mask, the fast path) or not
 * (`evaluate`: its own objective, summed in). Exactly one of the two is set.
 */
export interface Term {
  /** The registered kind, e.g. `channel`. */
  kind: string;
  /** The layer it reads. */
  layer: string;
  /** Its factor in the unit: 1 as a kind parses it; `-0.5` for `...-0.5*channel:l:3`. */
  weight: number;
  /** Canonical spec of the term alone (weight 1), e.g. `channel:conv_pw_6:3`. */
  spec: string;
  /** Short human label, e.g. `conv_pw_6 ch3`. */
  label: string;
  /** File-name stem, e.g. `channel-conv_pw_6-3`. */
  stem: string;
  /**
   * Linear terms: adds `weight` times the term's weights into one batch element's mask of its layer,
   * `data[offset .. offset + prod(shape))`, `shape` the per-image shape (channels last; the logits layer
   * flattened to [classes]). The element's value is then sum(activation * mask).
   */
  addMask?(data: Float32Array, offset: number, shape: number[], weight: number): void;
  /** Non-linear terms: the value of each batch element, [B], from the layer's activations [B, ...]. */
  evaluate?(act: tf.Tensor): tf.Tensor1D;
}

export interface Unit {
  /** Canonical spec, e.g. `channel:conv_pw_6:3`. */
  spec: string;
  /** Short human label for grids, e.g. `conv_pw_6 ch3` or `logit 301 (tench)`. */
  label: string;
  /** File name stem, e.g. `channel-conv_pw_6-3`. */
  fileStem: string;
  terms: Term[];
}

export function findLayer(model: NLModel, name: string, spec: string): LayerInfo {
  const layer = model.layers.find((l) => l.name === name);
  if (!layer) {
    const near = nearest(name, model.layers.map((l) => l.name));
    throw new Error(`unknown layer "${name}" in unit "${spec}"; nearest: ${near.join(', ')}`);
  }
  return layer;
}

/**
 * Splits `<layer>:<tail>` where the layer name may itself contain ':' (graph node names rarely do, ONNX names
 * never) and the tail has `tailParts` ':'-separated parts.
 */
export function splitLayer(model: NLModel, body: string, tailParts: number, spec: string, syntax: string): { layer: LayerInfo; tail: string[] } {
  const parts = body.split(':');
  if (parts.length < tailParts + 1 || parts.slice(0, parts.length - tailParts).join(':') === '') throw new Error(`bad unit "${spec}": expected ${syntax}`);
  return {
    layer: findLayer(model, parts.slice(0, parts.length - tailParts).join(':'), spec),
    tail: parts.slice(parts.length - tailParts),
  };
}

export function parseIndexRange(s: string, what: string, spec: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new Error(`bad ${what} "${s}" in unit "${spec}": expected a number or a range a-b`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new Error(`bad range "${s}" in unit "${spec}": end before start`);
  if (b - a >= 10000) throw new Error(`range "${s}" in unit "${spec}" is too large (${b - a + 1} units)`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

export function checkIndex(i: number, n: number, what: string, layer: string, spec: string): void {
  if (i < 0 || i >= n) throw new Error(`${what} ${i} is out of range in unit "${spec}": layer "${layer}" has ${n} (0-${n - 1})`);
}

/** A layer name made safe for a file name. */
export const safe = (s: string) => s.replace(/[^A-Za-z0-9_.]+/g, '_').replace(/^_+|_+$/g, '');

/** Adds `weight / positions` at channel `c` of every position: the mean over space (or tokens) of a channel. */
export function addChannelMean(data: Float32Array, offset: number, shape: number[], c: number, weight: number, firstPosition = 0): void {
  const channels = shape[shape.length - 1];
  const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const w = weight / (positions - firstPosition);
  for (let p = firstPosition; p < positions; p++) data[offset + p * channels + c] += w;
}
