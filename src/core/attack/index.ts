// Targeted adversarial examples: activation maximization of a class logit inside an L-infinity ball
// (the paper's attack), with FGSM and PGD (cross-entropy) baselines through the same loop.
//
// Every (image, target) pair is one element of one batch. Per step, on the elements still running:
//   q     = the 8-bit image inside the ball that x0 + delta rounds to (exactly what adversarial.png holds)
//   J(q)  = score_t(q) - lambda * TV(q - x0)      score = pre-softmax logit (am) or log-softmax (fgsm, pgd)
//   delta <- delta + step * sign(dJ/dq)           (or step * g / max|g| with update 'gradient')
//   delta <- clip(delta, -eps, eps);  delta <- clip(x0 + delta, 0, 1) - x0
// The forward/backward pass runs on q and its gradient updates the float delta (straight-through), so
// "the target is top-1 at step k" is a statement about the very image that is saved.
import * as tf from '@tensorflow/tfjs-core';
import type { NLModel } from '../model/types';
import { decodeImage, encodePng, fromUint8, perturbationImage, toUint8, type RGBImage } from '../image';
import { preprocessImage } from '../model/preprocess';
import { className as shortName } from '../model/classes';
import { totalVariation } from '../render/regularizers';
import { ATTACK_DEFAULTS } from '../jobs/options';
import {
  levelsInBall, linfDistance, l2Distance, psnr, softmax, ssim, topK, tvDistance, type ClassProb,
} from './metrics';

export type { ClassProb } from './metrics';
export { linfDistance, l2Distance, tvDistance, psnr, ssim, quantizeInBall, levelsInBall, softmax, topK } from './metrics';

export type AttackMethod = 'am' | 'fgsm' | 'pgd';
export type AttackUpdate = 'sign' | 'gradient';

export interface AttackOptions {
  method: AttackMethod;
  /** L-infinity radius on the [0,1] pixel scale (the model's input range is applied after). */
  epsilon: number;
  /** Step size on the [0,1] scale: the change of every pixel (sign) or of the largest one (gradient). FGSM uses epsilon. */
  step: number;
  /** lambda, the weight of TV(delta) subtracted from the objective (0 = none). */
  tv: number;
  /** Gradient steps (FGSM: always 1). */
  steps: number;
  /** 'sign': delta += step * sign(g); 'gradient': delta += step * g / max|g| (per pair). FGSM: always sign. */
  update: AttackUpdate;
  /** Stop a pair (and drop it from the batch) once its target is top-1. */
  earlyStop: boolean;
  /** PGD only: start from a uniform random point of the ball. */
  randomStart?: boolean;
  /** Seed of the random start. */
  seed?: number;
  onProgress?: (p: AttackProgress) => void;
  /** Polled between steps; true ends the attack after one more evaluation of the current images. */
  shouldStop?: () => boolean;
}

/** The paper's defaults for AM (ViTs: the paper used epsilon 0.05). FGSM and PGD default to tv 0; PGD to step epsilon / 4. */
export const DEFAULT_ATTACK: Omit<AttackOptions, 'onProgress' | 'shouldStop'> = {
  method: ATTACK_DEFAULTS.method as AttackMethod,
  epsilon: ATTACK_DEFAULTS.epsilon,
  step: ATTACK_DEFAULTS.step,
  tv: ATTACK_DEFAULTS.tv,
  steps: ATTACK_DEFAULTS.steps,
  update: ATTACK_DEFAULTS.update as AttackUpdate,
  earlyStop: ATTACK_DEFAULTS.earlyStop === 'yes',
  randomStart: false,
  seed: ATTACK_DEFAULTS.seed,
};

export interface AttackProgress {
  /** Gradient steps done, and the most there will be. */
  step: number;
  steps: number;
  /** Pairs in the batch, pairs still being optimized, pairs whose target has been top-1 at some step. */
  pairs: number;
  active: number;
  succeeded: number;
  /** Mean milliseconds per gradient step of the whole (shrinking) batch, first step excluded when possible. */
  msPerStep: number;
  /** Upper bound: the remaining steps at the current speed (early stops make it shorter). */
  etaMs: number;
}

export interface AttackResult {
  /** Index of the pair (= of images[] and targets[]). */
  pair: number;
  target: number;
  targetName?: string;
  /** The target is top-1 for the optimized 8-bit image, as seen by the attack loop's last evaluation. */
  success: boolean;
  /** The target is top-1 for adversarial.png re-encoded, decoded and classified again (what a user keeps). */
  successAfterQuantization: boolean;
  /** Gradient steps after which the target was first top-1 (0: already at the start); null: never. */
  stepsToSuccess: number | null;
  /** Gradient steps applied to this pair (fewer than `steps` after an early stop or a cancel). */
  stepsRun: number;
  originalClass: number;
  originalName?: string;
  originalProb: number;
  /** Top-1 of the saved adversarial, its probability, and the target's probability and logit. */
  finalClass: number;
  finalName?: string;
  finalProb: number;
  targetProb: number;
  targetLogit: number;
  /** Distances of the saved 8-bit adversarial to the saved 8-bit original, [0,1] scale. */
  linf: number;
  /** linf in 8-bit levels: max |adversarial.png - original.png|, exact. */
  linfLevels: number;
  l2: number;
  /** Anisotropic TV of delta, summed over pixels and channels (see tvDistance). */
  tv: number;
  psnr: number;
  ssim: number;
  top5Before: ClassProb[];
  top5After: ClassProb[];
  /** The 8-bit-quantized input (original.png). */
  original: RGBImage;
  /** The 8-bit adversarial actually saved (adversarial.png), on the grid inside the ball. */
  adversarial: RGBImage;
  /** 0.5 + 10 * (adversarial - original), clamped (perturbation.png). */
  perturbation: RGBImage;
}

export interface AttackRun {
  /** One per (image, target) pair, in order. */
  results: AttackResult[];
  /** The options actually used (FGSM: steps 1, step epsilon, update sign). */
  settings: Omit<AttackOptions, 'onProgress' | 'shouldStop'>;
  /** Mean ms per gradient step of the batch (first step excluded when there are more), and per pair-step. */
  msPerStep: number;
  msPerPairStep: number;
  /** Gradient steps run (the longest pair). */
  stepsRun: number;
  cancelled: boolean;
}

/** The (image, target) index pairs for n images and m targets: zipped when n = m, otherwise every image x every target. */
export function attackPairs(nImages: number, nTargets: number): [number, number][] {
  if (nImages < 1 || nTargets < 1) throw new Error(`an attack needs at least one image and one target (got ${nImages} and ${nTargets})`);
  if (nImages === nTargets) return Array.from({ length: nImages }, (_, i) => [i, i]);
  const out: [number, number][] = [];
  for (let i = 0; i < nImages; i++) for (let t = 0; t < nTargets; t++) out.push([i, t]);
  return out;
}

/** Options with defaults filled in and the FGSM overrides applied; throws a one-line error on bad values. */
export function resolveAttackOptions(opts: Partial<AttackOptions>): Omit<AttackOptions, 'onProgress' | 'shouldStop'> {
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as Partial<AttackOptions>;
  const method = given.method ?? DEFAULT_ATTACK.method;
  const epsilon = given.epsilon ?? DEFAULT_ATTACK.epsilon;
  // Baselines default to their textbook form: no TV term, and PGD steps of epsilon / 4.
  const o = {
    ...DEFAULT_ATTACK,
    tv: method === 'am' ? DEFAULT_ATTACK.tv : 0,
    step: method === 'pgd' ? epsilon / 4 : DEFAULT_ATTACK.step,
    ...given,
  };
  const bad = (m: string): never => { throw new Error(m); };
  if (!['am', 'fgsm', 'pgd'].includes(o.method)) bad(`attack method must be am, fgsm or pgd, got "${o.method}"`);
  if (!['sign', 'gradient'].includes(o.update)) bad(`attack update must be sign or gradient, got "${o.update}"`);
  if (!(Number.isFinite(o.epsilon) && o.epsilon > 0 && o.epsilon <= 1)) bad(`epsilon must be in (0, 1] on the [0,1] pixel scale, got ${o.epsilon}`);
  if (levelsInBall(o.epsilon) < 1) bad(`epsilon ${o.epsilon} is below one 8-bit level (1/255 = 0.00392): the saved PNG could not change`);
  if (!(Number.isFinite(o.step) && o.step > 0)) bad(`step must be a positive number, got ${o.step}`);
  if (!(Number.isInteger(o.steps) && o.steps >= 1)) bad(`steps must be an integer >= 1, got ${o.steps}`);
  if (!(Number.isFinite(o.tv) && o.tv >= 0)) bad(`tv (lambda) must be >= 0, got ${o.tv}`);
  if (o.seed !== undefined && !Number.isInteger(o.seed)) bad(`seed must be an integer, got ${o.seed}`);
  const { onProgress: _p, shouldStop: _s, ...plain } = o as AttackOptions;
  if (o.method === 'fgsm') return { ...plain, steps: 1, step: o.epsilon, update: 'sign', randomStart: false };
  if (o.method === 'am') return { ...plain, randomStart: false };
  return plain;
}

/**
 * Runs a targeted attack on every pair (images[i], targets[i]) in one batch. Images must already have the
 * model's input size and channels (see fitToInput) with values in [0,1]; they are quantized to 8 bits first
 * (that is original.png, the centre of the ball).
 */
export async function attack(model: NLModel, images: RGBImage[], targets: number[], options: Partial<AttackOptions> = {}): Promise<AttackRun> {
  const o = resolveAttackOptions(options);
  const ctx = checkInputs(model, images, targets);
  const batch = await prepare(ctx, images, targets, o);
  try {
    const loop = await stepLoop(ctx, batch, o, options);
    const results = await finalize(ctx, batch, loop);
    const { stepTimes, pairSteps } = loop;
    return { results, settings: o, msPerStep: meanMs(stepTimes), msPerPairStep: pairSteps ? stepTimes.reduce((a, c) => a + c, 0) / pairSteps : 0, stepsRun: loop.step, cancelled: loop.cancelled };
  } finally {
    for (const ts of [batch.x0, batch.lo, batch.hi, batch.oneHot, batch.delta]) ts.forEach((t) => t.dispose());
  }
}

/** What every step of an attack needs to know of the model. */
interface AttackContext {
  model: NLModel;
  logitsLayer: string;
  nClasses: number;
  H: number;
  W: number;
  C: number;
  /** [1, H, W, C]. */
  shape: [number, number, number, number];
}

/** Checks the model, the images and the targets; one clear error for the first problem. */
function checkInputs(model: NLModel, images: RGBImage[], targets: number[]): AttackContext {
  const nClasses = model.classCount;
  if (!nClasses) throw new Error(`model ${model.name} has no pre-softmax logits layer (none found automatically; set "logitsLayer" in neuron-lens.json)`);
  const { height: H, width: W, channels: C } = model.input;
  if (images.length === 0) throw new Error('attack: no images given');
  if (images.length !== targets.length) throw new Error(`attack: ${images.length} images but ${targets.length} targets (one target per image; see attackPairs)`);
  images.forEach((img, i) => {
    if (img.height !== H || img.width !== W || img.channels !== C) {
      throw new Error(`attack: image ${i} is ${img.width}x${img.height}x${img.channels} but ${model.name} takes ${W}x${H}x${C} (resize it with fitToInput)`);
    }
  });
  targets.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= nClasses) throw new Error(`attack: target ${t} of pair ${i} is not a class index of ${model.name} (0-${nClasses - 1})`);
  });
  return { model, logitsLayer: model.logitsLayer!, nClasses, H, W, C, shape: [1, H, W, C] };
}

/** Per pair: the 8-bit original, the ball's bounds in 8-bit levels, the target one-hot and the current delta. */
interface Batch {
  targets: number[];
  origQ: Uint8Array[];
  x0: tf.Tensor4D[];
  lo: tf.Tensor4D[];
  hi: tf.Tensor4D[];
  oneHot: tf.Tensor2D[];
  delta: tf.Tensor4D[];
  /** Logits of the originals, when known before the first step (a random start moves off them at once). */
  originalLogits: Float32Array[] | null;
}

async function prepare(ctx: AttackContext, images: RGBImage[], targets: number[], o: AttackSettings): Promise<Batch> {
  const { H, W, C, shape, nClasses } = ctx;
  const m = levelsInBall(o.epsilon);
  const size = H * W * C;
  const batch: Batch = { targets, origQ: images.map((img) => toUint8(img)), x0: [], lo: [], hi: [], oneHot: [], delta: [], originalLogits: null };
  try {
    batch.origQ.forEach((q, b) => {
      const l = new Float32Array(size); const h = new Float32Array(size);
      for (let i = 0; i < size; i++) { l[i] = Math.max(q[i] - m, 0); h[i] = Math.min(q[i] + m, 255); }
      batch.x0.push(tf.tensor4d(fromUint8(q, H, W, C).data, shape));
      batch.lo.push(tf.tensor4d(l, shape));
      batch.hi.push(tf.tensor4d(h, shape));
      const oh = new Float32Array(nClasses); oh[targets[b]] = 1;
      batch.oneHot.push(tf.tensor2d(oh, [1, nClasses]));
      batch.delta.push(o.randomStart
        ? tf.tidy(() => project(tf.randomUniform(shape, -o.epsilon, o.epsilon, 'float32', (o.seed ?? 0) * 100003 + b) as tf.Tensor4D, batch.x0[b], o.epsilon))
        : tf.zeros(shape));
    });
    if (o.randomStart) batch.originalLogits = await classify(ctx.model, ctx.logitsLayer, batch.x0, nClasses);
    return batch;
  } catch (e) {
    for (const ts of [batch.x0, batch.lo, batch.hi, batch.oneHot, batch.delta]) ts.forEach((t) => t.dispose());
    throw e;
  }
}

type AttackSettings = Omit<AttackOptions, 'onProgress' | 'shouldStop'>;

/** What the step loop found, per pair and overall. */
interface LoopOutcome {
  firstSuccess: (number | null)[];
  lastSuccess: boolean[];
  stepsRun: number[];
  /** Logits of the originals (step 0's evaluation, or the random start's classification). */
  originalLogits: Float32Array[];
  stepTimes: number[];
  pairSteps: number;
  /** Gradient steps run (the longest pair). */
  step: number;
  cancelled: boolean;
}

/**
 * The gradient steps on the pairs still running; a pair stops (its delta frozen) once its target is
 * top-1 (with earlyStop), after the last step, or on a cancel. A last pass without gradient evaluates
 * the pairs still running.
 */
async function stepLoop(ctx: AttackContext, batch: Batch, o: AttackSettings, cb: Pick<AttackOptions, 'onProgress' | 'shouldStop'>): Promise<LoopOutcome> {
  const { model, logitsLayer, nClasses } = ctx;
  const { x0, lo, hi, oneHot, delta, targets } = batch;
  const B = x0.length;
  const firstSuccess: (number | null)[] = Array(B).fill(null);
  const lastSuccess: boolean[] = Array(B).fill(false);
  const stepsRun: number[] = Array(B).fill(0);
  const frozen: boolean[] = Array(B).fill(false);
  let originalLogits = batch.originalLogits;
  const stepTimes: number[] = [];
  let pairSteps = 0;
  let cancelled = false;
  let step = 0;
  const forward = (img: tf.Tensor4D, n: number): tf.Tensor2D => tf.reshape(model.tap([logitsLayer], preprocessImage(model, img))[0], [n, nClasses]);
  for (;;) {
    const active = frozen.flatMap((f, b) => (f ? [] : [b]));
    if (active.length === 0) break;
    if (step > 0 && !cancelled && cb.shouldStop?.()) cancelled = true;
    const withGrad = step < o.steps && !cancelled;
    const n = active.length;
    const t0 = performance.now();
    const out = tf.tidy(() => {
      const cat = (ts: tf.Tensor4D[]) => (n === 1 ? ts[active[0]].clone() : tf.concat(active.map((b) => ts[b]), 0));
      const xs = cat(x0);
      const ds = cat(delta);
      // The 8-bit image inside the ball: round, then clamp to [orig - m, orig + m] ∩ [0, 255] levels.
      const q = tf.div(tf.minimum(tf.maximum(tf.round(tf.mul(tf.add(xs, ds), 255)), cat(lo)), cat(hi)), 255) as tf.Tensor4D;
      if (!withGrad) return { logits: forward(q, n) };
      const oh = n === 1 ? oneHot[active[0]].clone() : tf.concat(active.map((b) => oneHot[b]), 0);
      let kept: tf.Tensor2D | null = null;
      const grad = tf.grad((img: tf.Tensor) => {
        const logits = forward(img as tf.Tensor4D, n);
        kept = tf.keep(logits);
        const score = o.method === 'am' ? logits : tf.logSoftmax(logits);
        let obj: tf.Tensor = tf.sum(tf.mul(score, oh));
        if (o.tv > 0) obj = tf.sub(obj, tf.mul(tf.sum(totalVariation(tf.sub(img, xs) as tf.Tensor4D)), o.tv));
        return obj;
      })(q) as tf.Tensor4D;
      let dir: tf.Tensor4D;
      if (o.update === 'sign') dir = tf.sign(grad);
      else dir = tf.div(grad, tf.add(tf.max(tf.abs(grad), [1, 2, 3], true), 1e-30));
      const next = project(tf.add(ds, tf.mul(dir, o.step)), xs, o.epsilon);
      return { logits: kept! as tf.Tensor2D, next };
    });
    const logits = (await out.logits.data()) as Float32Array;
    out.logits.dispose();
    if (step === 0 && !originalLogits) originalLogits = active.map((_, i) => logits.slice(i * nClasses, (i + 1) * nClasses));
    const nexts = out.next ? (n === 1 ? [out.next] : tf.split(out.next, n, 0)) : [];
    if (out.next && n > 1) out.next.dispose();
    active.forEach((b, i) => {
      const row = logits.subarray(i * nClasses, (i + 1) * nClasses);
      const hit = argmax(row) === targets[b];
      lastSuccess[b] = hit;
      if (hit && firstSuccess[b] === null) firstSuccess[b] = step;
      if (!withGrad || (hit && o.earlyStop)) {
        frozen[b] = true;
        nexts[i]?.dispose();
      } else {
        delta[b].dispose();
        delta[b] = nexts[i] as tf.Tensor4D;
        stepsRun[b] = step + 1;
      }
    });
    await tf.nextFrame();
    if (!withGrad) break;
    stepTimes.push(performance.now() - t0);
    pairSteps += n;
    step++;
    if (cb.onProgress) {
      const ms = meanMs(stepTimes);
      cb.onProgress({
        step, steps: o.steps, pairs: B,
        active: frozen.filter((f) => !f).length,
        succeeded: firstSuccess.filter((s) => s !== null).length,
        msPerStep: ms, etaMs: (o.steps - step) * ms,
      });
    }
  }
  return { firstSuccess, lastSuccess, stepsRun, originalLogits: originalLogits!, stepTimes, pairSteps, step, cancelled };
}

/** The saved images, an independent check (re-encode each as PNG, decode, classify again) and the metrics. */
async function finalize(ctx: AttackContext, batch: Batch, loop: LoopOutcome): Promise<AttackResult[]> {
  const { model, logitsLayer, nClasses, H, W, C, shape } = ctx;
  const { x0, lo, hi, delta, origQ } = batch;
  const size = H * W * C;
  const finalQ: Uint8Array[] = [];
  const tq = tf.tidy(() => tf.concat(delta.map((d, b) => tf.div(tf.minimum(tf.maximum(tf.round(tf.mul(tf.add(x0[b], d), 255)), lo[b]), hi[b]), 255)), 0));
  const all = (await tq.data()) as Float32Array;
  tq.dispose();
  for (let b = 0; b < x0.length; b++) {
    const k = new Uint8Array(size);
    for (let i = 0; i < size; i++) k[i] = Math.round(all[b * size + i] * 255);
    finalQ.push(k);
  }
  const adversarial = finalQ.map((k) => fromUint8(k, H, W, C));
  const readBack = adversarial.map((img, b) => decodeImage(encodePng(img), `adversarial of pair ${b}`));
  const readT = readBack.map((img) => tf.tensor4d(img.data, shape));
  const after = await classify(model, logitsLayer, readT, nClasses);
  readT.forEach((t) => t.dispose());
  return adversarial.map((adv, b) => pairResult(ctx, b, batch.targets[b], origQ[b], finalQ[b], adv, loop.originalLogits[b], after[b], loop));
}

/** One pair's result: success, classes and probabilities before and after, distances, images. */
function pairResult(ctx: AttackContext, b: number, target: number, origQ: Uint8Array, finalQ: Uint8Array, adv: RGBImage,
  logitsBefore: Float32Array, logitsAfter: Float32Array, loop: LoopOutcome): AttackResult {
  const { model, H, W, C } = ctx;
  const size = H * W * C;
  const original = fromUint8(origQ, H, W, C);
  const d: RGBImage = { width: W, height: H, channels: C, data: new Float32Array(size) };
  let levels = 0;
  for (let i = 0; i < size; i++) {
    d.data[i] = adv.data[i] - original.data[i];
    levels = Math.max(levels, Math.abs(finalQ[i] - origQ[i]));
  }
  const pBefore = softmax(logitsBefore);
  const pAfter = softmax(logitsAfter);
  const top1Before = argmax(pBefore);
  const top1After = argmax(pAfter);
  return {
    pair: b,
    target,
    targetName: shortName(model, target),
    success: loop.lastSuccess[b],
    successAfterQuantization: top1After === target,
    stepsToSuccess: loop.firstSuccess[b],
    stepsRun: loop.stepsRun[b],
    originalClass: top1Before,
    originalName: shortName(model, top1Before),
    originalProb: pBefore[top1Before],
    finalClass: top1After,
    finalName: shortName(model, top1After),
    finalProb: pAfter[top1After],
    targetProb: pAfter[target],
    targetLogit: logitsAfter[target],
    linf: linfDistance(adv, original),
    linfLevels: levels,
    l2: l2Distance(adv, original),
    tv: tvDistance(adv, original),
    psnr: psnr(adv, original),
    ssim: ssim(adv, original),
    top5Before: topK(pBefore, 5, model.classNames),
    top5After: topK(pAfter, 5, model.classNames),
    original,
    adversarial: adv,
    perturbation: perturbationImage(d, 10),
  };
}

/** delta clipped to [-eps, eps], then so that x + delta stays in [0, 1]. */
function project(d: tf.Tensor4D, x: tf.Tensor4D, eps: number): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.clipByValue(tf.add(x, tf.clipByValue(d, -eps, eps)), 0, 1), x));
}

/** Logits of each image (one batch, no gradient), as one row per image. */
async function classify(model: NLModel, layer: string, imgs: tf.Tensor4D[], nClasses: number): Promise<Float32Array[]> {
  const t = tf.tidy(() => tf.reshape(model.tap([layer], preprocessImage(model, tf.concat(imgs, 0)))[0], [imgs.length, nClasses]));
  const data = (await t.data()) as Float32Array;
  t.dispose();
  return imgs.map((_, i) => data.slice(i * nClasses, (i + 1) * nClasses));
}

function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

function meanMs(times: number[]): number {
  const xs = times.length > 1 ? times.slice(1) : times;
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}
