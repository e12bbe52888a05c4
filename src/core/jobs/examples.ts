// The examples job: the dataset images that activate a unit most (and least). One streaming pass over an image
// folder records, per image and per tapped layer, each channel's max and mean over space in an on-disk index
// (./examplesIndex.ts); every unit of those layers is then ranked from the index without reading the images
// again. Only the winners are read a second time, for their heatmap (the unit's spatial map) and the crop of
// the receptive field around its maximum.
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { NLModel } from '../model/types';
import { preprocessImage } from '../model/preprocess';
import { createImage, crop, drawBox, encodePng, fitToInput, heatmapOverlay, readImage, resizeImage, type RGBImage } from '../image';
import { parseUnits, type Unit } from '../render/objectives';
import { hashModel } from './modelHash';
import { imageKey, indexDir, LayerIndex, type IndexRecord } from './examplesIndex';
import { EXAMPLES_DEFAULTS, EXAMPLES_OPTIONS, optionProblem } from './options';
import { safeName, Stems, toJson, writeFiles } from './output';
import { modelSummary } from './visualize';

export interface ExamplesOptions {
  /** Folder, scanned recursively for .png/.jpg/.jpeg (the output folder excluded when it lies inside). */
  images: string;
  /** Unit specs as visualize takes them (ranges allowed): channel, neuron, logit and direction units. */
  units: string[];
  /** Images kept per unit with the highest activation (default 9). */
  top?: number;
  /** Images kept per unit with the lowest, most negative activation (default 0). */
  bottom?: number;
  /** Output folder: heatmap/crop PNGs, examples.json (of this run's units) and the index (`index/`, shared by runs). */
  out: string;
  /** Images per forward pass (default 32). */
  batch?: number;
  /** Abort: the images indexed so far stay in the index, a re-run reads only the rest; the job rejects with ExamplesStopped. */
  signal?: AbortSignal;
  /** After every batch of the indexing pass; `total` is the number of images not yet in the index. */
  onProgress?: (p: { done: number; total: number; etaSeconds?: number }) => void;
  /** A skipped image (unreadable, not an image) and other notes; default: process.emitWarning. */
  onWarning?: (message: string) => void;
}

export interface ExampleHit {
  /** Path relative to opts.images (forward slashes). */
  image: string;
  /** The unit's value on the image, the statistic that ranked it (see UnitExamples.statistic). */
  activation: number;
  /** PNG path relative to out: the image with the unit's spatial map as a heatmap and the receptive field's box. */
  heatmap: string;
  /** PNG path relative to out: the receptive field around the maximum. */
  crop: string;
  /** The receptive field, [x, y, width, height] in pixels of the model input (the image after centre crop and resize). */
  box: [number, number, number, number];
}

export interface UnitExamples {
  unit: string;
  label: string;
  /** `mean`: the mean over space, as the objective (channel, logit, direction units); `max`: the maximum over space (neuron units). */
  statistic: 'mean' | 'max';
  top: ExampleHit[];
  bottom: ExampleHit[];
}

/** The job was aborted: what was indexed is kept, and a re-run resumes. */
export class ExamplesStopped extends Error {
  override name = 'AbortError';
  constructor(readonly done: number, readonly total: number, indexFolder: string) {
    super(`stopped after indexing ${done} of ${total} images; the index (${indexFolder}) keeps them: run again to resume`);
  }
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;
/** Saliency above this fraction of its maximum counts as inside the receptive field. */
const FIELD_THRESHOLD = 0.01;
/** PNGs of small inputs (28x28) are scaled up by a whole factor to at least this many pixels. */
const MIN_PNG_SIDE = 112;
const BOX_COLOR = [0, 1, 1] as const;

/** How a unit is ranked from the index: sum_c weights[c] * statistic_c of its layer. */
interface Plan {
  unit: Unit;
  layer: string;
  channels: number;
  /** Per-image shape of the layer (channels last). */
  shape: number[];
  statistic: 'mean' | 'max';
  weights: Float32Array;
}

interface ImageFile {
  rel: string;
  file: string;
  key: string;
}

interface Hit {
  file: number;
  activation: number;
}

/** The ranking of a unit from the per-channel statistics its kind allows. */
function planUnit(model: NLModel, unit: Unit): Plan {
  const layers = [...new Set(unit.terms.map((t) => t.layer))];
  if (layers.length > 1) throw new Error(`examples: unit "${unit.spec}" reads layers ${layers.join(' and ')}; the examples of a unit come from one layer`);
  const info = model.layers.find((l) => l.name === layers[0])!;
  const shape = info.outputShape.slice(1).map((v) => v ?? 1);
  if (!shape.length) shape.push(1);
  const C = shape[shape.length - 1];
  const positions = shape.length > 1 ? shape.slice(0, -1).reduce((a, b) => a * b, 1) : 1;
  const neuron = unit.terms.some((t) => t.kind === 'neuron');
  for (const t of unit.terms) {
    if (!t.addMask || !['channel', 'logit', 'direction', 'neuron'].includes(t.kind)) {
      throw new Error(`examples: unit "${unit.spec}": ${t.kind} units cannot be ranked from per-channel statistics; use channel, neuron, logit or direction units`);
    }
  }
  if (neuron && (unit.terms.length > 1 || unit.terms[0].weight !== 1)) throw new Error(`examples: unit "${unit.spec}": a neuron unit stands alone (its examples rank by the channel's maximum over space)`);
  // The term's own mask over one image, summed over positions: the weight of each channel's mean (a mean
  // kind spreads w/positions over every position) or, for a neuron, the one-hot of its channel.
  const mask = new Float32Array(positions * C);
  for (const t of unit.terms) t.addMask!(mask, 0, shape, t.weight);
  const weights = new Float32Array(C);
  for (let p = 0; p < positions; p++) for (let c = 0; c < C; c++) weights[c] += mask[p * C + c];
  if (weights.every((w) => w === 0)) throw new Error(`examples: unit "${unit.spec}" has no weight on any channel of "${info.name}"`);
  return { unit, layer: info.name, channels: C, shape, statistic: neuron ? 'max' : 'mean', weights };
}

/** Every PNG/JPEG under `root` (recursively, sorted by relative path), skipping `exclude` and dot-folders. */
function listImages(root: string, exclude: string, warn: (m: string) => void): { rel: string; file: string; size: number; mtimeMs: number }[] {
  const out: { rel: string; file: string; size: number; mtimeMs: number }[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch (e) {
      warn(`skipped the folder ${dir}: ${(e as Error).message}`);
      return;
    }
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (full === exclude || e.name.startsWith('.')) continue;
      let st: fs.Stats;
      try { st = fs.statSync(full); } catch (err) {
        warn(`skipped ${full}: ${(err as Error).message}`);
        continue;
      }
      if (st.isDirectory()) walk(full);
      else if (st.isFile() && IMAGE_FILE.test(e.name)) out.push({ rel: path.relative(root, full).split(path.sep).join('/'), file: full, size: st.size, mtimeMs: st.mtimeMs });
    }
  };
  walk(root);
  return out.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

/** The k best by activation (ties: the earlier file first), kept in order. */
class TopK {
  readonly hits: Hit[] = [];
  constructor(private readonly k: number, private readonly sign: 1 | -1) {}

  private better(a: Hit, b: Hit): boolean {
    const d = this.sign * (a.activation - b.activation);
    return d > 0 || (d === 0 && a.file < b.file);
  }

  push(h: Hit): void {
    const hs = this.hits;
    if (this.k === 0 || (hs.length === this.k && !this.better(h, hs[hs.length - 1]))) return;
    let i = hs.length;
    while (i > 0 && this.better(h, hs[i - 1])) i--;
    hs.splice(i, 0, h);
    if (hs.length > this.k) hs.pop();
  }
}

/** The options checked against the option table (one line naming the flag). */
function resolve(opts: ExamplesOptions): { top: number; bottom: number; batch: number } {
  const s = { top: opts.top ?? EXAMPLES_DEFAULTS.top, bottom: opts.bottom ?? EXAMPLES_DEFAULTS.bottom, batch: opts.batch ?? EXAMPLES_DEFAULTS.batch };
  for (const o of EXAMPLES_OPTIONS) {
    const problem = optionProblem(o, s[o.key]);
    if (problem) throw new Error(problem);
  }
  if (s.top + s.bottom === 0) throw new Error('examples: --top and --bottom are both 0: nothing to find');
  return s;
}

/** The images fitted to the model input, as one [n, H, W, C] tensor in [0,1]. */
function batchTensor(model: NLModel, imgs: RGBImage[]): tf.Tensor4D {
  const { height: H, width: W, channels: C } = model.input;
  const data = new Float32Array(imgs.length * H * W * C);
  imgs.forEach((img, i) => data.set(img.data, i * H * W * C));
  return tf.tensor4d(data, [imgs.length, H, W, C]);
}

/** Per image [max over space, mean over space] of every channel: [n, 2, C]. */
function channelStats(act: tf.Tensor): tf.Tensor {
  const n = act.shape[0];
  const C = act.shape[act.rank - 1];
  if (act.rank === 2) return tf.stack([act, act], 1);
  const flat = tf.reshape(act, [n, -1, C]);
  return tf.stack([tf.max(flat, 1), tf.mean(flat, 1)], 1);
}

const yieldToEvents = () => new Promise<void>((r) => setImmediate(r));

export async function examples(model: NLModel, opts: ExamplesOptions): Promise<UnitExamples[]> {
  const { top, bottom, batch } = resolve(opts);
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m));
  const root = path.resolve(opts.images);
  const out = path.resolve(opts.out);
  if (!fs.existsSync(root)) throw new Error(`examples: the image folder ${root} does not exist`);
  if (!fs.statSync(root).isDirectory()) throw new Error(`examples: ${root} is not a folder (--images takes a folder of PNG/JPEG images)`);
  const plans = parseUnits(model, opts.units).map((u) => planUnit(model, u));
  const listed = listImages(root, out, warn);
  if (!listed.length) throw new Error(`examples: no PNG or JPEG images under ${root}`);
  const files: ImageFile[] = listed.map((f) => ({ rel: f.rel, file: f.file, key: imageKey(f.rel, f) }));
  const { height: H, width: W, channels: C } = model.input;
  // The model's identity: its content hash (a one-line change when hashModel takes the loaded model).
  const modelHash = hashModel(model);
  const dir = indexDir(path.join(out, 'index'), { model: modelHash, preprocess: { scale: model.preprocess.scale, offset: model.preprocess.offset }, input: [H, W, C] });
  const layerNames = [...new Set(plans.map((p) => p.layer))];
  const indexes = layerNames.map((l) => new LayerIndex(dir, l, plans.find((p) => p.layer === l)!.channels));

  // Pass 1: every image some layer's index lacks, in batches; each batch is committed to the index.
  const todo = files.filter((f) => indexes.some((ix) => !ix.lookup.has(f.key)));
  const started = Date.now();
  opts.onProgress?.({ done: 0, total: todo.length });
  for (let i = 0; i < todo.length; i += batch) {
    if (opts.signal?.aborted) throw new ExamplesStopped(i, todo.length, dir);
    const group = todo.slice(i, i + batch);
    const fitted = group.map((f): RGBImage | string => {
      try { return fitToInput(readImage(f.file), H, W, C).image; } catch (e) {
        const reason = (e as Error).message;
        warn(`skipped ${f.rel}: ${reason}`);
        return reason;
      }
    });
    const good = fitted.flatMap((img, k) => (typeof img === 'string' ? [] : [k]));
    // Only the layers whose index lacks some image of the batch are tapped.
    const needed = indexes.filter((ix) => group.some((f) => !ix.lookup.has(f.key)));
    let stats: Float32Array[] = [];
    if (good.length) {
      const x = batchTensor(model, good.map((k) => fitted[k] as RGBImage));
      const ts = tf.tidy(() => model.tap(needed.map((ix) => ix.layer), preprocessImage(model, x)).map(channelStats));
      x.dispose();
      stats = (await Promise.all(ts.map((t) => t.data()))) as Float32Array[];
      tf.dispose(ts);
    }
    needed.forEach((ix, l) => {
      const Cl = ix.channels;
      const records: IndexRecord[] = [];
      group.forEach((f, k) => {
        if (ix.lookup.has(f.key)) return;
        const g = good.indexOf(k);
        if (g < 0) records.push({ key: f.key, max: null, mean: null, error: fitted[k] as string });
        else records.push({ key: f.key, max: stats[l].slice(g * 2 * Cl, g * 2 * Cl + Cl), mean: stats[l].slice(g * 2 * Cl + Cl, (g + 1) * 2 * Cl) });
      });
      ix.append(records);
    });
    const done = i + group.length;
    const elapsed = (Date.now() - started) / 1000;
    opts.onProgress?.({ done, total: todo.length, etaSeconds: (elapsed / done) * (todo.length - done) });
    await yieldToEvents();
  }

  // Ranking: every unit from its layer's index, streamed.
  const ranked = plans.map((p) => ({ plan: p, top: new TopK(top, 1), bottom: new TopK(bottom, -1) }));
  const skipped = new Map<number, string>();
  indexes.forEach((ix) => {
    const fileOf = new Int32Array(ix.records).fill(-1);
    files.forEach((f, i) => { const r = ix.lookup.get(f.key); if (r !== undefined) fileOf[r] = i; });
    const mine = ranked.filter((r) => r.plan.layer === ix.layer);
    ix.scan((rec, max, mean) => {
      const file = fileOf[rec];
      if (file < 0) return;
      const error = ix.errors.get(rec);
      if (error !== undefined) { skipped.set(file, error); return; }
      for (const r of mine) {
        const stat = r.plan.statistic === 'max' ? max : mean;
        let v = 0;
        for (let c = 0; c < ix.channels; c++) if (r.plan.weights[c] !== 0) v += r.plan.weights[c] * stat[c];
        r.top.push({ file, activation: v });
        r.bottom.push({ file, activation: v });
      }
    });
  });

  // Pass 2: only the winners, for their heatmaps and receptive-field crops.
  const stems = new Stems();
  const result: UnitExamples[] = [];
  for (const r of ranked) {
    const folder = stems.take(safeName(r.plan.unit.fileStem) || 'unit');
    const sides = [...r.top.hits.map((h, k) => ({ ...h, side: 'top' as const, rank: k })), ...r.bottom.hits.map((h, k) => ({ ...h, side: 'bottom' as const, rank: k }))];
    const hits: Record<'top' | 'bottom', ExampleHit[]> = { top: [], bottom: [] };
    for (let i = 0; i < sides.length; i += batch) {
      const group = sides.slice(i, i + batch).flatMap((h) => {
        try { return [{ ...h, img: fitToInput(readImage(files[h.file].file), H, W, C).image }]; } catch (e) {
          warn(`skipped ${files[h.file].rel}: it could be read when indexed but not now: ${(e as Error).message}`);
          return [];
        }
      });
      if (!group.length) continue;
      const maps = await spatialMaps(model, r.plan, group.map((g) => g.img), group.map((g) => (g.side === 'top' ? 1 : -1)));
      const written: Record<string, Buffer> = {};
      group.forEach((g, k) => {
        const name = `${folder}/${g.side}-${String(g.rank + 1).padStart(2, '0')}`;
        const { heat, box } = maps[k];
        const scale = Math.max(1, Math.ceil(MIN_PNG_SIDE / Math.max(H, W)));
        const overlay = heatmapOverlay(g.img, heat);
        drawBox(overlay, box, BOX_COLOR, Math.max(1, Math.round(Math.max(H, W) / 112)));
        written[`${name}-heatmap.png`] = encodePng(upscale(overlay, scale));
        written[`${name}-crop.png`] = encodePng(upscale(crop(g.img, ...box), scale));
        hits[g.side].push({ image: files[g.file].rel, activation: g.activation, heatmap: `${name}-heatmap.png`, crop: `${name}-crop.png`, box });
      });
      writeFiles(out, written);
    }
    result.push({ unit: r.plan.unit.spec, label: r.plan.unit.label, statistic: r.plan.statistic, top: hits.top, bottom: hits.bottom });
  }
  const skippedList = [...skipped].sort((a, b) => a[0] - b[0]).map(([f, reason]) => ({ image: files[f].rel, reason }));
  if (skippedList.length && !todo.length) warn(`skipped ${skippedList.length} unreadable image(s) recorded in the index: ${skippedList.slice(0, 3).map((s) => s.image).join(', ')}${skippedList.length > 3 ? ', ...' : ''}`);
  writeFiles(out, {
    'examples.json': toJson({
      model: modelSummary(model), images: root, imageCount: files.length, index: path.relative(out, dir).split(path.sep).join('/'),
      top, bottom, skipped: skippedList, units: result,
    }),
  });
  return result;
}

/**
 * A gradient saliency map as a heatmap: box-blurred (radius 1/56 of the input side: raw gradients are
 * speckled) and scaled so that its 99th percentile is 1.
 */
function saliencyHeat(s: Float32Array, H: number, W: number): Float32Array {
  const r = Math.floor(Math.max(H, W) / 56);
  let m = s.slice();
  if (r > 0) {
    const blur = (src: Float32Array, dx: number, dy: number) => {
      const dst = new Float32Array(H * W);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          let sum = 0;
          let n = 0;
          for (let k = -r; k <= r; k++) {
            const xx = x + k * dx;
            const yy = y + k * dy;
            if (xx >= 0 && yy >= 0 && xx < W && yy < H) { sum += src[yy * W + xx]; n++; }
          }
          dst[y * W + x] = sum / n;
        }
      }
      return dst;
    };
    m = blur(blur(m, 1, 0), 0, 1);
  }
  const q = Float32Array.from(m).sort()[Math.floor(0.99 * (m.length - 1))];
  for (let p = 0; p < m.length; p++) m[p] = q > 0 ? Math.min(1, m[p] / q) : 0;
  return m;
}

/** Whole-factor nearest-neighbour enlargement. */
function upscale(img: RGBImage, k: number): RGBImage {
  return k === 1 ? img : resizeImage(img, img.height * k, img.width * k, 'nearest');
}

/**
 * Per image: the heatmap (values in [0,1] over the model input) and the receptive field around the unit's
 * maximum (`sign` -1: its minimum, for bottom examples).
 *
 * The heatmap of a unit on a feature map is its spatial map (sum_c weights[c] * activation[y, x, c]),
 * resized to the input; on a layer without positions (logits, dense) it is the gradient saliency.
 * The receptive field is a gradient-based estimate, the same for every model format (the layer graph's
 * kernels and strides are not known for all of them): the bounding box of the input pixels where
 * |d activation(max position) / d input|, summed over colour channels, exceeds 1% of its maximum. It is the
 * effective field of this image (ReLUs that are off pass no gradient); with no gradient at all, the whole image.
 */
async function spatialMaps(model: NLModel, plan: Plan, imgs: RGBImage[], sign: (1 | -1)[]): Promise<{ heat: Float32Array; box: [number, number, number, number] }[]> {
  const { height: H, width: W } = model.input;
  const n = imgs.length;
  const C = plan.channels;
  const positions = plan.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  // A 1x1 map (MobileNet's conv_preds) has no place to show: it takes the saliency like a dense layer.
  const spatial = plan.shape.length === 3 && positions > 1;
  const [h, w] = spatial ? plan.shape : [1, 1];
  const x = batchTensor(model, imgs);
  const wT = tf.tensor1d(plan.weights);
  const mapT = tf.tidy(() => {
    const act = model.tap([plan.layer], preprocessImage(model, x))[0];
    return tf.sum(tf.mul(tf.reshape(act, [n, positions, C]), wT), -1);
  });
  const map = (await mapT.data()) as Float32Array;
  mapT.dispose();
  // The gradient of each image's unit at its extreme position (spatial), or of the whole unit.
  const mask = new Float32Array(n * positions * C);
  for (let b = 0; b < n; b++) {
    let best = 0;
    for (let p = 1; p < positions; p++) if (sign[b] * map[b * positions + p] > sign[b] * map[b * positions + best]) best = p;
    for (let p = 0; p < positions; p++) {
      if (spatial && p !== best) continue;
      mask.set(plan.weights, (b * positions + p) * C);
    }
  }
  const maskT = tf.tensor(mask, [n, ...plan.shape]);
  const salT = tf.tidy(() => {
    const g = tf.grad((img: tf.Tensor) => tf.sum(tf.mul(model.tap([plan.layer], preprocessImage(model, img as tf.Tensor4D))[0], maskT)))(x);
    return tf.sum(tf.abs(g), -1);
  });
  const sal = (await salT.data()) as Float32Array;
  tf.dispose([x, wT, maskT, salT]);
  return imgs.map((_, b) => {
    const s = sal.subarray(b * H * W, (b + 1) * H * W);
    let top = 0;
    for (const v of s) top = Math.max(top, v);
    let [x0, y0, x1, y1] = [W, H, -1, -1];
    for (let y = 0; y < H; y++) {
      for (let xx = 0; xx < W; xx++) {
        if (s[y * W + xx] <= FIELD_THRESHOLD * top) continue;
        x0 = Math.min(x0, xx); x1 = Math.max(x1, xx); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
    const box: [number, number, number, number] = top > 0 && x1 >= 0 ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, W, H];
    let heat: Float32Array;
    if (spatial) {
      const m = createImage(h, w, 1);
      let peak = 0;
      for (let p = 0; p < positions; p++) peak = Math.max(peak, sign[b] * map[b * positions + p]);
      for (let p = 0; p < positions; p++) m.data[p] = peak > 0 ? Math.max(0, sign[b] * map[b * positions + p]) / peak : 0;
      heat = h === H && w === W ? m.data : resizeImage(m, H, W, 'smooth').data;
    } else {
      heat = saliencyHeat(s, H, W);
    }
    return { heat, box };
  });
}
