// direction:<layer>:<weights> and cosine:<layer>:<weights>: a layer's activation projected on a direction
// of its channels (a concept vector, TCAV-style, or a combination of neurons).
//   direction: mean over positions (tokens) of sum_c act[.., c] * v[c]; on a [batch, C] layer the dot
//              product itself. Linear: it joins the weight mask.
//   cosine:    mean over positions of cos(act[.., :], v), in [-1, 1]. Not linear: its own objective.
//              (Lucid's direction_cossim also averages over channels, i.e. it is this divided by C.)
// <weights> is inline, `3=1,7=-0.5` (unlisted channels 0), or the path of a JSON file holding either an array
// of the layer's channel count of numbers or an object {"3": 1, "7": -0.5}.
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo, NLModel } from '../../../model/types';
import type { UnitKind } from '../registry';
import { checkIndex, findLayer, safe, type Term } from '../units';
import { readRegular } from '../../../util/fs';

const NUM = String.raw`[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?`;
const INLINE = new RegExp(String.raw`^\s*\d+\s*=\s*${NUM}\s*(?:,\s*\d+\s*=\s*${NUM}\s*)*$`);
/** Inline directions with at most this many non-zero channels are spelled out in labels and file stems. */
const SPELLED = 3;

interface Direction {
  layer: LayerInfo;
  /** One weight per channel. */
  v: Float32Array;
  /** The canonical weights text of the spec: sorted inline entries, or the file path as given. */
  text: string;
  /** The file's base name, when the weights came from a file. */
  file?: string;
}

function parseDirection(body: string, model: NLModel, spec: string, kind: string): Direction {
  const parts = body.split(':');
  if (parts.length < 2) throw new Error(`bad unit "${spec}": expected ${kind}:<layer>:<weights> (weights inline as 3=1,7=-0.5 or a JSON file)`);
  // The layer is the longest ':'-joined prefix that names a layer, so both layer names and paths (C:\x.json)
  // may contain ':'.
  let layer: LayerInfo | undefined;
  let text = '';
  for (let i = parts.length - 1; i >= 1 && !layer; i--) {
    layer = model.layers.find((l) => l.name === parts.slice(0, i).join(':'));
    text = parts.slice(i).join(':').trim();
  }
  if (!layer) findLayer(model, parts[0], spec);
  if (!text) throw new Error(`bad unit "${spec}": no direction weights after the layer (expected e.g. 3=1,7=-0.5 or a JSON file)`);
  const n = layer!.channels;
  if (INLINE.test(text)) {
    const v = new Float32Array(n);
    const seen = new Set<number>();
    for (const entry of text.split(',')) {
      const [c, w] = entry.split('=').map((s) => s.trim());
      const i = Number(c);
      checkIndex(i, n, 'channel', layer!.name, spec);
      if (seen.has(i)) throw new Error(`bad unit "${spec}": channel ${i} is given twice`);
      seen.add(i);
      v[i] = Number(w);
    }
    return { layer: layer!, v: checkNonZero(v, spec), text: [...seen].sort((a, b) => a - b).filter((i) => v[i] !== 0).map((i) => `${i}=${fmt(v[i])}`).join(',') };
  }
  return { layer: layer!, v: checkNonZero(readWeightsFile(text, layer!, spec), spec), text, file: path.basename(text) };
}

function readWeightsFile(file: string, layer: LayerInfo, spec: string): Float32Array {
  const where = `direction file "${file}" (unit "${spec}")`;
  if (!/\.json$/i.test(file) && !fs.existsSync(file)) {
    throw new Error(`bad unit "${spec}": "${file}" is neither inline weights (like 3=1,7=-0.5) nor a JSON file`);
  }
  let raw: string;
  try {
    raw = readRegular(file, 64 * 2 ** 20).toString('utf8');
  } catch (e) {
    throw new Error(`${where}: cannot be read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new Error(`${where}: not valid JSON: ${(e as Error).message}`);
  }
  const n = layer.channels;
  const v = new Float32Array(n);
  if (Array.isArray(json)) {
    if (json.length !== n) throw new Error(`${where}: has ${json.length} weights but layer "${layer.name}" has ${n} channels`);
    json.forEach((w, i) => {
      if (typeof w !== 'number' || !Number.isFinite(w)) throw new Error(`${where}: weight ${i} is ${JSON.stringify(w)}, not a finite number`);
      v[i] = w;
    });
    return v;
  }
  if (json && typeof json === 'object') {
    for (const [k, w] of Object.entries(json)) {
      if (!/^\d+$/.test(k)) throw new Error(`${where}: key "${k}" is not a channel index`);
      if (Number(k) >= n) throw new Error(`${where}: channel ${k} is out of range: layer "${layer.name}" has ${n} (0-${n - 1})`);
      if (typeof w !== 'number' || !Number.isFinite(w)) throw new Error(`${where}: the weight of channel ${k} is ${JSON.stringify(w)}, not a finite number`);
      v[Number(k)] = w;
    }
    return v;
  }
  throw new Error(`${where}: expected an array of ${n} channel weights or an object like {"3": 1, "7": -0.5}, got ${json === null ? 'null' : typeof json}`);
}

function checkNonZero(v: Float32Array, spec: string): Float32Array {
  if (!v.some((x) => x !== 0)) throw new Error(`bad unit "${spec}": the direction is zero`);
  if (!v.every(Number.isFinite)) throw new Error(`bad unit "${spec}": the direction has a non-finite weight`);
  return v;
}

/** A float32 weight as the shortest decimal that reads back as it (0.1, not 0.10000000149). */
const fmt = (x: number) => String(Number(x.toPrecision(7)));

/** A short, stable hash of a direction's weights (FNV-1a over their bytes), for labels and file names. */
function hash(v: Float32Array): string {
  let h = 0x811c9dc5;
  for (const b of new Uint8Array(v.buffer, v.byteOffset, v.byteLength)) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Spec, label and stem of a direction-like term. */
function describe(kind: string, d: Direction): Pick<Term, 'spec' | 'label' | 'stem'> {
  const nonZero = d.v.reduce((k, x) => k + (x !== 0 ? 1 : 0), 0);
  const spelled = !d.file && nonZero <= SPELLED;
  const short = kind === 'direction' ? 'dir' : 'cos';
  const id = hash(d.v);
  return {
    spec: `${kind}:${d.layer.name}:${d.text}`,
    label: `${d.layer.name} ${short}${spelled ? `(${d.text})` : d.file ? ` ${d.file} #${id.slice(0, 6)}` : ` #${id.slice(0, 6)}`}`,
    stem: `${kind}-${safe(d.layer.name)}-${spelled ? d.text.replace(/=/g, 'x').replace(/-/g, 'm').replace(/,/g, '_') : `${d.file ? `${safe(d.file.replace(/\.json$/i, ''))}-` : ''}${id}`}`,
  };
}

const SYNTAX_HELP = '<weights>: inline 3=1,7=-0.5 (unlisted channels 0) or a JSON file: an array of channel weights or {"3": 1, "7": -0.5}';

export const direction: UnitKind = {
  name: 'direction',
  syntax: 'direction:<layer>:<weights>',
  description: `mean over positions of the dot product of the activation with a direction; ${SYNTAX_HELP}`,
  example: 'direction:conv_pw_6:3=1,7=-0.5',
  appliesTo: (layer) => layer.channels > 0,
  parse(body, model, spec): Term[] {
    const d = parseDirection(body, model, spec, 'direction');
    return [{
      kind: 'direction', layer: d.layer.name, weight: 1, ...describe('direction', d),
      addMask: (data, offset, shape, weight) => {
        const channels = shape[shape.length - 1];
        const positions = shape.slice(0, -1).reduce((a, b) => a * b, 1);
        for (let p = 0; p < positions; p++) {
          for (let c = 0; c < channels; c++) if (d.v[c] !== 0) data[offset + p * channels + c] += weight * d.v[c] / positions;
        }
      },
    }];
  },
};

export const cosine: UnitKind = {
  name: 'cosine',
  syntax: 'cosine:<layer>:<weights>',
  description: `mean over positions of the cosine similarity of the activation with a direction, in [-1, 1]; ${SYNTAX_HELP}`,
  example: 'cosine:conv_pw_6:3=1,7=-0.5',
  appliesTo: (layer) => layer.channels > 0,
  parse(body, model, spec): Term[] {
    const d = parseDirection(body, model, spec, 'cosine');
    const norm = Math.sqrt(d.v.reduce((s, x) => s + x * x, 0));
    const unit = d.v.map((x) => x / norm);
    return [{
      kind: 'cosine', layer: d.layer.name, weight: 1, ...describe('cosine', d),
      evaluate: (act) => tf.tidy(() => {
        const c = unit.length;
        const a = tf.reshape(act, [act.shape[0], -1, c]);
        const dot = tf.sum(tf.mul(a, tf.tensor1d(unit)), -1);
        // eps keeps the gradient finite where an activation vector is all zero (dead ReLUs).
        const mag = tf.sqrt(tf.add(tf.sum(tf.square(a), -1), 1e-12));
        return tf.mean(tf.div(dot, mag), 1) as tf.Tensor1D;
      }),
    }];
  },
};
