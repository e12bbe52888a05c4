// Units and objectives. A unit spec names what to maximize; several terms combine with weights and signs:
//   logit:<index|class name>            a pre-softmax class logit
//   channel:<layer>:<c | a-b>           mean over space of a channel of a conv layer (or one unit of a dense layer)
//   neuron:<layer>:<c>[:<x>,<y>]        one spatial position of a channel (centre by default)
//   vit:<layer>:<d | a-b>[:nocls]       hidden dimension d of a [batch, tokens, dim] output, mean over tokens
//   0.5*channel:conv2:3-channel:conv2:7 weighted sums and differences of terms (no ranges inside sums)
// Every unit becomes, per layer it reads, a constant weight tensor W with the layer's per-image shape; the
// objective of batch element b is sum(activation[b] * W[b]). One mechanism serves every kind.
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, NLModel } from '../../model/types';
import { className, resolveClass } from '../../model/classes';
import { nearest } from '../../util/nearest';

export type TermKind = 'logit' | 'channel' | 'neuron' | 'vit';

export interface Term {
  kind: TermKind;
  weight: number;
  layer: string;
  index: number;
  /** neuron position (x = column, y = row); undefined = centre */
  x?: number;
  y?: number;
  /** vit: leave the first (CLS) token out of the mean */
  noCls?: boolean;
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

import './kinds';
import { unitKinds } from './registry';

export * from './registry';

const KINDS = unitKinds().map((k) => k.name) as TermKind[];

function findLayer(model: NLModel, name: string, spec: string): LayerInfo {
  const layer = model.layers.find((l) => l.name === name);
  if (!layer) {
    const near = nearest(name, model.layers.map((l) => l.name));
    throw new Error(`unknown layer "${name}" in unit "${spec}"; nearest: ${near.join(', ')}`);
  }
  return layer;
}

function parseIndexRange(s: string, what: string, spec: string): number[] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new Error(`bad ${what} "${s}" in unit "${spec}": expected a number or a range a-b`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (b < a) throw new Error(`bad range "${s}" in unit "${spec}": end before start`);
  if (b - a >= 10000) throw new Error(`range "${s}" in unit "${spec}" is too large (${b - a + 1} units)`);
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

function checkIndex(i: number, n: number, what: string, layer: string, spec: string): void {
  if (i < 0 || i >= n) throw new Error(`${what} ${i} is out of range in unit "${spec}": layer "${layer}" has ${n} (0-${n - 1})`);
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9_.]+/g, '_').replace(/^_+|_+$/g, '');

/** Parses one term (no ranges, no weights) into terms for each index of its range. */
function parseTermRange(model: NLModel, body: string, spec: string): Term[] {
  const parts = body.split(':');
  const kind = parts[0] as TermKind;
  if (!KINDS.includes(kind)) throw new Error(`bad unit "${spec}": unknown kind "${parts[0]}" (expected ${KINDS.join(', ')})`);
  if (kind === 'logit') {
    const value = body.slice('logit:'.length).trim();
    if (!value) throw new Error(`bad unit "${spec}": expected logit:<index|name> or logit:a-b`);
    const idx = /^\d+-\d+$/.test(value) ? parseIndexRange(value, 'class range', spec) : [resolveClass(model, value, spec)];
    const n = model.classCount;
    for (const i of idx) checkIndex(i, n, 'class', model.logitsLayer ?? '?', spec);
    return idx.map((index) => ({ kind, weight: 1, layer: model.logitsLayer!, index }));
  }
  // Layer names may contain ':' (graph node names rarely do, ONNX names never); the layer is everything
  // between the kind and the index part.
  if (parts.length < 3) throw new Error(`bad unit "${spec}": expected ${kind}:<layer>:<index>`);
  let tailCount = 1;
  if (kind === 'neuron' && parts.length >= 4 && /^\d+,\d+$/.test(parts[parts.length - 1])) tailCount = 2;
  if (kind === 'vit' && parts.length >= 4 && parts[parts.length - 1] === 'nocls') tailCount = 2;
  const layerName = parts.slice(1, parts.length - tailCount).join(':');
  const indexPart = parts[parts.length - tailCount];
  const layer = findLayer(model, layerName, spec);
  const idx = parseIndexRange(indexPart, kind === 'vit' ? 'hidden dimension' : 'channel', spec);
  const shape = layer.outputShape;
  for (const i of idx) checkIndex(i, layer.channels, kind === 'vit' ? 'hidden dimension' : 'channel', layer.name, spec);
  if (kind === 'vit') {
    if (shape.length !== 3) throw new Error(`unit "${spec}": vit units need a [batch, tokens, dim] layer; "${layer.name}" has shape ${JSON.stringify(shape)}`);
    const noCls = tailCount === 2;
    return idx.map((index) => ({ kind, weight: 1, layer: layer.name, index, noCls }));
  }
  if (kind === 'neuron') {
    if (shape.length !== 4) throw new Error(`unit "${spec}": neuron units need a [batch, height, width, channels] layer; "${layer.name}" has shape ${JSON.stringify(shape)}`);
    let x: number | undefined; let y: number | undefined;
    if (tailCount === 2) {
      [x, y] = parts[parts.length - 1].split(',').map(Number);
      const [h, w] = [shape[1]!, shape[2]!];
      if (x >= w || y >= h) throw new Error(`unit "${spec}": position ${x},${y} is outside the ${w}x${h} map of "${layer.name}"`);
    }
    return idx.map((index) => ({ kind, weight: 1, layer: layer.name, index, x, y }));
  }
  return idx.map((index) => ({ kind, weight: 1, layer: layer.name, index }));
}

function describeTerm(model: NLModel, t: Term): { label: string; stem: string; spec: string } {
  switch (t.kind) {
    case 'logit': {
      const name = className(model, t.index);
      return { spec: `logit:${t.index}`, label: name ? `${t.index} ${name}` : `logit ${t.index}`, stem: `logit-${t.index}` };
    }
    case 'channel':
      return { spec: `channel:${t.layer}:${t.index}`, label: `${t.layer} ch${t.index}`, stem: `channel-${safe(t.layer)}-${t.index}` };
    case 'neuron': {
      const pos = t.x === undefined ? '' : `:${t.x},${t.y}`;
      return { spec: `neuron:${t.layer}:${t.index}${pos}`, label: `${t.layer} n${t.index}${t.x === undefined ? '' : `@${t.x},${t.y}`}`, stem: `neuron-${safe(t.layer)}-${t.index}${t.x === undefined ? '' : `-${t.x}_${t.y}`}` };
    }
    case 'vit':
      return { spec: `vit:${t.layer}:${t.index}${t.noCls ? ':nocls' : ''}`, label: `${t.layer} d${t.index}${t.noCls ? ' nocls' : ''}`, stem: `vit-${safe(t.layer)}-${t.index}${t.noCls ? '-nocls' : ''}` };
  }
}

const TERM_SPLIT = new RegExp(`(?=[+-](?:\\d*\\.?\\d+(?:e-?\\d+)?\\*)?(?:${KINDS.join('|')}):)`);

/**
 * Parses unit specs into units. A spec with a range (`channel:conv1:0-7`) gives one unit per index;
 * a sum of terms gives one combined unit.
 */
export function parseUnits(model: NLModel, specs: string[]): Unit[] {
  if (specs.length === 0) throw new Error('no unit given: pass --unit, e.g. --unit logit:0 or --unit channel:<layer>:0-7');
  const units: Unit[] = [];
  for (const raw of specs) {
    const spec = raw.trim()
      .replace(new RegExp(`\\s*([+-])\\s*(?=(?:\\d*\\.?\\d+(?:e-?\\d+)?\\s*\\*\\s*)?(?:${KINDS.join('|')}):)`, 'g'), '$1')
      .replace(/(\d)\s*\*\s*/g, '$1*');
    if (!spec) throw new Error('empty unit spec');
    const pieces = spec.split(TERM_SPLIT).filter((p) => p.length > 0);
    if (pieces.length === 1 && !/^[+-]|\*/.test(pieces[0])) {
      for (const t of parseTermRange(model, pieces[0], raw)) {
        const d = describeTerm(model, t);
        units.push({ spec: d.spec, label: d.label, fileStem: d.stem, terms: [t] });
      }
      continue;
    }
    const terms: Term[] = pieces.map((p) => {
      const m = /^([+-])?(?:(\d*\.?\d+(?:e-?\d+)?)\*)?(.*)$/.exec(p)!;
      const sign = m[1] === '-' ? -1 : 1;
      const w = m[2] === undefined ? 1 : Number(m[2]);
      const ts = parseTermRange(model, m[3], raw);
      if (ts.length !== 1) throw new Error(`bad unit "${raw}": ranges cannot be combined in a sum; list them as separate units`);
      return { ...ts[0], weight: sign * w };
    });
    const parts = terms.map((t) => ({ t, d: describeTerm(model, t) }));
    const fmt = (t: Term, s: string, first: boolean) => {
      const a = Math.abs(t.weight);
      const sign = t.weight < 0 ? '-' : first ? '' : '+';
      return `${sign}${a === 1 ? '' : `${a}*`}${s}`;
    };
    units.push({
      spec: parts.map(({ t, d }, i) => fmt(t, d.spec, i === 0)).join(''),
      label: parts.map(({ t, d }, i) => fmt(t, d.label, i === 0)).join(' '),
      fileStem: parts.map(({ t, d }) => `${t.weight < 0 ? 'neg-' : ''}${t.weight !== 1 && t.weight !== -1 ? `${Math.abs(t.weight)}x` : ''}${d.stem}`).join('+'),
      terms,
    });
  }
  return units;
}

/** Per-layer constant weights for a batch of units, and the function that evaluates them. */
export class Objective {
  readonly layers: string[];
  private readonly weights: tf.Tensor[];

  constructor(model: NLModel, units: Unit[]) {
    this.layers = [...new Set(units.flatMap((u) => u.terms.map((t) => t.layer)))];
    this.weights = this.layers.map((name) => {
      const info = model.layers.find((l) => l.name === name)!;
      const isLogits = name === model.logitsLayer;
      // Per-image shape: logits are flattened to [N]; other layers keep theirs.
      const shape = isLogits ? [info.outputShape.slice(1).reduce<number>((a, b) => a * (b ?? 1), 1)] : info.outputShape.slice(1) as number[];
      const size = shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(units.length * size);
      units.forEach((u, b) => {
        for (const t of u.terms) if (t.layer === name) addTerm(data, b * size, shape, t, isLogits);
      });
      return tf.tensor(data, [units.length, ...shape]);
    });
  }

  /** The objective value of each batch element, [B], from the activations of `this.layers` (same order). */
  evaluate(acts: tf.Tensor[]): tf.Tensor1D {
    return tf.tidy(() => {
      let total: tf.Tensor | null = null;
      acts.forEach((a, i) => {
        const w = this.weights[i];
        const x = a.rank === w.rank ? a : tf.reshape(a, w.shape);
        const v = tf.sum(tf.mul(x, w), Array.from({ length: w.rank - 1 }, (_, k) => k + 1));
        total = total ? tf.add(total, v) : v;
      });
      return total! as tf.Tensor1D;
    });
  }

  dispose(): void {
    this.weights.forEach((w) => w.dispose());
  }
}

function addTerm(data: Float32Array, base: number, shape: number[], t: Term, isLogits: boolean): void {
  if (isLogits && t.kind === 'logit') { data[base + t.index] += t.weight; return; }
  const c = shape[shape.length - 1];
  if (t.kind === 'vit') {
    const tokens = shape[0];
    const first = t.noCls ? 1 : 0;
    const w = t.weight / (tokens - first);
    for (let k = first; k < tokens; k++) data[base + k * c + t.index] += w;
    return;
  }
  if (t.kind === 'neuron') {
    const [h, wd] = shape;
    const x = t.x ?? Math.floor(wd / 2);
    const y = t.y ?? Math.floor(h / 2);
    data[base + (y * wd + x) * c + t.index] += t.weight;
    return;
  }
  // channel (or logit of a non-flat layer): mean over every position
  const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
  for (let p = 0; p < positions; p++) data[base + p * c + t.index] += t.weight / positions;
}
