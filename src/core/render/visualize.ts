// The activation-maximization loop: image = param() -> random transforms -> preprocess -> model.tap ->
// objective -> loss; Adam on the parameters. A batch of units is one batch of images, optimized together.
import * as tf from '@tensorflow/tfjs-core';
import type { NLModel } from '../model/types';
import { preprocessImage } from '../model/preprocess';
import { tensorToImages, type RGBImage } from '../image';
import { diversityLayer, diversityObjective, sum, unitObjective, type Unit } from './objectives';
import { createParam, getParam, paramNames } from './param';
import { ImportanceAccumulator } from './param/importance';
import { applyTransforms, parseTransforms } from './transforms';
import { blurPenalty, l1, l2, totalVariation } from './regularizers';
import { Rng } from './rng';
import { optionProblem, VISUALIZE_DEFAULTS, VISUALIZE_OPTIONS } from '../jobs/options';

export interface Regularization {
  tv: number;
  l1: number;
  l2: number;
  blur: number;
}

export interface VisualizeOptions {
  /** A registered parameterization (see param/registry.ts). */
  param: string;
  steps: number;
  lr: number;
  seed: number;
  /** Side of the optimized image; defaults to the model's input size. */
  size?: number;
  /** `standard`, `none` or a list (see transforms.ts). */
  transforms: string;
  /** Fourier 1/f decay power. */
  decay: number;
  reg: Regularization;
  /** Most units optimized in one batch (memory bound). */
  batch: number;
  /** Send preview images every this many steps (0: never). */
  previewEvery?: number;
  onProgress?: (p: VisualizeProgress) => void;
  /** Polled between steps; true stops after the current step and keeps what exists. */
  shouldStop?: () => boolean;
  /**
   * `count` images per unit, optimized jointly with minus `weight` times the mean cosine similarity of their
   * Gram matrices at `layer` (default: see diversityLayer in objectives/diversity.ts).
   */
  diversity?: Diversity;
}

export interface Diversity {
  count: number;
  layer?: string;
  /** Default: the option table's diversityWeight. */
  weight?: number;
}

/** From the one option table (core/jobs/options.ts). */
export const DEFAULT_VISUALIZE: Omit<VisualizeOptions, 'onProgress' | 'shouldStop'> = {
  param: VISUALIZE_DEFAULTS.param,
  steps: VISUALIZE_DEFAULTS.steps,
  lr: VISUALIZE_DEFAULTS.lr,
  seed: VISUALIZE_DEFAULTS.seed,
  transforms: VISUALIZE_DEFAULTS.transforms,
  decay: VISUALIZE_DEFAULTS.decay,
  reg: { tv: VISUALIZE_DEFAULTS.tv, l1: VISUALIZE_DEFAULTS.l1, l2: VISUALIZE_DEFAULTS.l2, blur: VISUALIZE_DEFAULTS.blur },
  batch: VISUALIZE_DEFAULTS.batch,
  previewEvery: 0,
};

export interface VisualizeProgress {
  /** Steps done in the current chunk, and per chunk. */
  step: number;
  steps: number;
  /** Index of the current chunk of units, and the number of chunks. */
  chunk: number;
  chunks: number;
  /** The unit of each image of this chunk (indexes into the units list; with diversity each repeats per copy). */
  unitIndexes: number[];
  /** The number of units in the whole run (after ranges are expanded). */
  units: number;
  /** With diversity: the copy index of each image of this chunk. */
  copies?: number[];
  msPerStep: number;
  /** Estimated time to finish every chunk. */
  etaMs: number;
  /** Current images of the chunk, on preview steps. */
  preview?: RGBImage[];
}

export interface UnitResult {
  unit: Unit;
  image: RGBImage;
  /** Objective value on the final (untransformed) image. */
  activation: number;
  steps: number;
  /**
   * Where the objective looked (MACO's transparency map), when the parameterization asks for it
   * (`importance` in its definition): |d objective / d image| summed over the steps, one channel in [0, 1].
   */
  importance?: RGBImage;
  /** Index of the diversity copy, when the objective asked for several. */
  copy?: number;
}

export interface VisualizeResult {
  units: UnitResult[];
  /** Mean milliseconds per optimization step (all units of a chunk together), first step excluded. */
  msPerStep: number;
  cancelled: boolean;
}

export async function visualize(model: NLModel, units: Unit[], options: Partial<VisualizeOptions> = {}): Promise<VisualizeResult> {
  const o: VisualizeOptions = { ...DEFAULT_VISUALIZE, ...options, reg: { ...DEFAULT_VISUALIZE.reg, ...options.reg } };
  validate(o);
  const specs = parseTransforms(o.transforms);
  const { height: H, width: W, channels: C } = model.input;
  const size = o.size ?? Math.max(H, W);
  const outSize: [number, number] = [H, W];
  // Batch elements: each unit, or with diversity `count` copies of it side by side; a chunk never splits a
  // unit's copies (so it holds count elements even when --batch is smaller).
  const copies = o.diversity?.count ?? 1;
  const divLayers = o.diversity ? units.map((u) => diversityLayer(model, u, o.diversity!.layer)) : [];
  const perChunk = Math.max(1, Math.floor(o.batch / copies));
  const chunks: number[][] = [];
  for (let i = 0; i < units.length; i += perChunk) chunks.push(units.slice(i, i + perChunk).map((_, k) => i + k));

  const results: UnitResult[] = [];
  const stepTimes: number[] = [];
  let cancelled = false;
  for (let ci = 0; ci < chunks.length && !cancelled; ci++) {
    const idx = chunks[ci].flatMap((i) => Array<number>(copies).fill(i));
    const copyOf = idx.map((_, k) => k % copies);
    const chunkUnits = idx.map((i) => units[i]);
    const rng = new Rng(o.seed * 7919 + ci);
    const param = createParam(o.param, { batch: idx.length, height: size, width: size, channels: C, seed: o.seed * 7919 + ci, decay: o.decay });
    // `objective` is what each image is for (its reported activation); `total` adds the diversity term.
    const objective = unitObjective(model, chunkUnits);
    const total = o.diversity ? sum(objective, diversityObjective(
      chunks[ci].map((u, k) => ({ start: k * copies, count: copies, layer: divLayers[u] })), idx.length,
      o.diversity.weight ?? VISUALIZE_DEFAULTS.diversityWeight)) : objective;
    const optimizer = tf.train.adam(o.lr);
    const importance = getParam(o.param).importance ? new ImportanceAccumulator([idx.length, size, size, C]) : null;
    const lossFn = (): tf.Scalar => {
      const img = param.image();
      const x = preprocessImage(model, applyTransforms(importance ? importance.track(img) : img, specs, rng, outSize));
      const value = total.evaluate(model.tap(total.layers, x));
      let loss: tf.Tensor = tf.neg(tf.sum(value));
      if (o.reg.tv) loss = tf.add(loss, tf.mul(tf.sum(totalVariation(img)), o.reg.tv));
      if (o.reg.l1) loss = tf.add(loss, tf.mul(tf.sum(l1(img)), o.reg.l1));
      if (o.reg.l2) loss = tf.add(loss, tf.mul(tf.sum(l2(img)), o.reg.l2));
      if (o.reg.blur) loss = tf.add(loss, tf.mul(tf.sum(blurPenalty(img)), o.reg.blur));
      return loss as tf.Scalar;
    };
    let done = 0;
    try {
      for (let step = 0; step < o.steps; step++) {
        if (o.shouldStop?.()) { cancelled = true; break; }
        const t0 = performance.now();
        optimizer.minimize(lossFn, false, param.variables);
        // Yield to the event loop between steps so a cancel (Ctrl-C, an engine message) is seen.
        await tf.nextFrame();
        const dt = performance.now() - t0;
        if (step > 0 || o.steps === 1) stepTimes.push(dt);
        done = step + 1;
        if (o.onProgress) {
          const ms = mean(stepTimes) || dt;
          const remaining = (o.steps - done) + (chunks.length - ci - 1) * o.steps;
          const preview = o.previewEvery && (done % o.previewEvery === 0 || done === o.steps)
            ? await readImages(tf.tidy(() => param.image())) : undefined;
          o.onProgress({ step: done, steps: o.steps, chunk: ci, chunks: chunks.length, unitIndexes: idx, units: units.length, ...(o.diversity ? { copies: copyOf } : {}), msPerStep: ms, etaMs: remaining * ms, preview });
        }
      }
      const finalImg = tf.tidy(() => param.image());
      const finalValue = tf.tidy(() => {
        const x = preprocessImage(model, applyTransforms(finalImg, [], rng, outSize));
        return objective.evaluate(model.tap(objective.layers, x));
      });
      const [images, values, maps] = await Promise.all([readImages(finalImg), finalValue.data(), importance?.maps()]);
      finalValue.dispose();
      chunkUnits.forEach((unit, k) => results.push({ unit, image: images[k], activation: values[k], steps: done, ...(maps ? { importance: maps[k] } : {}), ...(o.diversity ? { copy: copyOf[k] } : {}) }));
    } finally {
      importance?.dispose();
      optimizer.dispose();
      total.dispose();
      param.dispose();
    }
  }
  return { units: results, msPerStep: mean(stepTimes), cancelled };
}

/** Reads a batch of images and disposes the tensor. */
async function readImages(t: tf.Tensor4D): Promise<RGBImage[]> {
  try { return await tensorToImages(t); } finally { t.dispose(); }
}

function mean(xs: number[]): number {
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/** Every value within the limits of the one option table (core/jobs/options.ts); the parameterization registered. */
function validate(o: VisualizeOptions): void {
  const flat: Record<string, unknown> = {
    ...o, ...o.reg, diversity: o.diversity?.count, diversityLayer: o.diversity?.layer, diversityWeight: o.diversity?.weight,
  };
  for (const spec of VISUALIZE_OPTIONS) {
    if (spec.key === 'param' || flat[spec.key] === undefined) continue;
    const problem = optionProblem(spec, flat[spec.key]);
    if (problem) throw new Error(problem);
  }
  if (!paramNames().includes(o.param)) throw new Error(`--param must be one of ${paramNames().join(', ')}, got "${o.param}"`);
}
