// The atlas job: every channel of some layers (or any list of units) visualized, one PNG per unit, an
// index.json and a static index.html viewer. Resumable and idempotent: a unit's result is keyed by the
// model's content hash, the unit and the settings, lives in DIR/units/<key>.json beside its PNGs (the JSON
// written last, every file to a temporary name and renamed), and a unit whose JSON exists is never redone.
// The work is cut into batches (the units of one layer, `batch` at a time) that are the same however the
// run is split: a local run, static shards (`--shard i/n`) and the work queue (atlasQueue.ts) all run the
// same batches, so they give the same images.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import type { NLModel } from '../model/types';
import { parseUnits } from '../render/objectives';
import { readJson, writeFileAtomic } from '../util/fs';
import { atlasHtml } from './atlasHtml';
import { examples, type ExampleHit, type UnitExamples } from './examples';
import { hashModel } from './modelHash';
import { safeName, toJson } from './output';
import { checkParam, modelSummary, resolveVisualizeSettings, runVisualize, type VisualizeSettings } from './visualize';

/** One unit of an atlas. */
export interface AtlasUnit {
  /** Canonical unit spec, `channel:conv1:3`. */
  unit: string;
  label: string;
  /** The layer of its (first) term. */
  layer: string;
  /** The channel, for `channel:` units. */
  channel?: number;
  /** Content key: model hash + unit + settings. Its files are units/<key>.json and units/<key>-<param>[-d<k>].png. */
  key: string;
}

/** What an atlas is: written to DIR/atlas.json by every run, so shards and `--merge` agree on it. */
export interface AtlasPlan {
  version: 1;
  model: ReturnType<typeof modelSummary> & { hash: string };
  /** The settings that define the images (the batch size only groups them). */
  settings: VisualizeSettings;
  params: string[];
  units: AtlasUnit[];
  /** Indexes into `units`: the batches every kind of run shares. */
  batches: number[][];
  /** Dataset examples: the image folder (absolute) and how many images per unit; written under DIR/examples. */
  examples?: AtlasExamplesRequest;
}

export interface AtlasExamplesRequest {
  images: string;
  top?: number;
  bottom?: number;
}

export interface AtlasRequest {
  /** Every channel of each of these layers. */
  layers?: string[];
  /** Any unit specs (ranges expand). */
  units?: string[];
  settings?: Partial<VisualizeSettings>;
  /** Several parameterizations side by side (default: `settings.param`). */
  params?: string[];
  /** Also the dataset examples of every unit (one pass over the image folder). */
  examples?: AtlasExamplesRequest;
}

/** One unit's result file (DIR/units/<key>.json). */
export interface AtlasUnitResult {
  unit: string;
  label: string;
  layer: string;
  channel?: number;
  key: string;
  /** Per parameterization, the PNG of each image (one, or one per diversity copy), relative to DIR. */
  images: Record<string, string[]>;
  /** Per parameterization, the final activation of each image. */
  activations: Record<string, number[]>;
  steps: number;
}

/** The model's content hash (one place: how a model is hashed may change). */
export function atlasModelHash(model: NLModel): string {
  return hashModel(model);
}

/** The unit list, keys and batches of an atlas of `model`. */
export function planAtlas(model: NLModel, req: AtlasRequest): AtlasPlan {
  const given = resolveVisualizeSettings(req.settings);
  const settings = { ...given, transforms: atlasTransforms(given.transforms, given.size ?? Math.max(model.input.height, model.input.width)) };
  const params = req.params?.length ? req.params : [settings.param];
  params.forEach(checkParam);
  const specs = [
    ...(req.layers ?? []).map((name) => {
      const layer = model.layers.find((l) => l.name === name);
      if (!layer) throw new Error(`unknown layer "${name}" (the model has ${model.layers.map((l) => l.name).join(', ')})`);
      if (!(layer.channels > 0)) throw new Error(`layer "${name}" has no channels to visualize`);
      return `channel:${name}:0-${layer.channels - 1}`;
    }),
    ...(req.units ?? []),
  ];
  if (!specs.length) throw new Error('an atlas needs at least one --layer or --units spec');
  const hash = atlasModelHash(model);
  const { batch, ...imageSettings } = settings;
  const identity = { model: hash, preprocess: model.preprocess.describe, settings: imageSettings, params };
  const seen = new Set<string>();
  const units: AtlasUnit[] = [];
  for (const u of parseUnits(model, specs)) {
    if (seen.has(u.spec)) continue;
    seen.add(u.spec);
    const m = /^channel:(.*):(\d+)$/.exec(u.spec);
    const digest = crypto.createHash('sha256').update(JSON.stringify({ ...identity, unit: u.spec })).digest('hex').slice(0, 16);
    units.push({
      unit: u.spec, label: u.label, layer: u.terms[0].layer, ...(m ? { channel: Number(m[2]) } : {}),
      key: `${safeName(u.fileStem).slice(0, 80)}-${digest}`,
    });
  }
  // Batches: a layer's units in order, `batch` images at a time (diversity copies count as images).
  const perBatch = Math.max(1, Math.floor(batch / (settings.diversity ?? 1)));
  const batches: number[][] = [];
  const byLayer = new Map<string, number[]>();
  units.forEach((u, i) => byLayer.set(u.layer, [...(byLayer.get(u.layer) ?? []), i]));
  for (const idx of byLayer.values()) for (let i = 0; i < idx.length; i += perBatch) batches.push(idx.slice(i, i + perBatch));
  const ex = req.examples && { ...req.examples, images: path.resolve(req.examples.images) };
  return { version: 1, model: { ...modelSummary(model), hash }, settings, params, units, batches, ...(ex ? { examples: ex } : {}) };
}

/**
 * Lucid's standard transforms are sized for 224-pixel images: on a 28-pixel image their 12-pixel pad and
 * 8-pixel jitter leave the object a small patch in a grey frame (Fashion-MNIST logits reach about a third of
 * the activation). Below 224 the atlas scales the pad and jitters to the image side (scale and rotation are
 * relative already); any other --transforms is kept as given.
 */
export function atlasTransforms(transforms: string, side: number): string {
  if (transforms.trim() !== 'standard' || side >= 224) return transforms;
  const px = (n: number) => Math.max(1, Math.round((n * side) / 224));
  return `pad:${px(12)},jitter:${px(8)},scale:0.9-1.1,rotate:10,jitter:${px(4)}`;
}

/** A static shard: batch k belongs to shard k mod count. */
export interface Shard {
  index: number;
  count: number;
}

/** `i/n` (0-based). */
export function parseShard(s: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) throw new Error(`bad shard "${s}": expected i/n with 0 <= i < n, e.g. 0/4`);
  return checkShard({ index: Number(m[1]), count: Number(m[2]) }, s);
}

function checkShard(sh: Shard, text: string): Shard {
  if (!(sh.count >= 1) || !(sh.index >= 0 && sh.index < sh.count)) throw new Error(`bad shard "${text}": expected i/n with 0 <= i < n`);
  return sh;
}

/**
 * The shard a batch scheduler gave this process, from its environment: a Kubernetes Indexed Job's
 * JOB_COMPLETION_INDEX (with the count given as `--shards n`) or a Slurm array's SLURM_ARRAY_TASK_ID and
 * SLURM_ARRAY_TASK_COUNT (task ids from SLURM_ARRAY_TASK_MIN, usually 0 or 1). Undefined when neither is set.
 */
export function shardFromEnv(env: NodeJS.ProcessEnv, shards?: number): Shard | undefined {
  if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (shards === undefined) throw new Error('JOB_COMPLETION_INDEX is set: give the number of shards with --shards N (the Job\'s completions)');
    return checkShard({ index: Number(env.JOB_COMPLETION_INDEX), count: shards }, `${env.JOB_COMPLETION_INDEX}/${shards}`);
  }
  if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const count = shards ?? Number(env.SLURM_ARRAY_TASK_COUNT);
    const index = Number(env.SLURM_ARRAY_TASK_ID) - Number(env.SLURM_ARRAY_TASK_MIN ?? 0);
    return checkShard({ index, count }, `${index}/${count} (SLURM_ARRAY_TASK_ID ${env.SLURM_ARRAY_TASK_ID})`);
  }
  if (shards !== undefined) throw new Error('--shards N needs JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID in the environment (or use --shard i/n)');
  return undefined;
}

export function shardBatches(plan: AtlasPlan, shard?: Shard): number[] {
  return plan.batches.map((_, k) => k).filter((k) => !shard || k % shard.count === shard.index);
}

function unitFile(out: string, u: AtlasUnit): string {
  return path.join(out, 'units', `${u.key}.json`);
}

/** A unit is done when its JSON (written after its PNGs) exists. */
export function unitDone(out: string, u: AtlasUnit): boolean {
  return fs.existsSync(unitFile(out, u));
}

/** Writes DIR/atlas.json (the plan), checking that an atlas already in DIR is of the same model and settings. */
export function writePlan(out: string, plan: AtlasPlan): void {
  const file = path.join(out, 'atlas.json');
  if (fs.existsSync(file)) {
    const old = readJson(file) as AtlasPlan;
    if (old.model?.hash !== plan.model.hash) throw new Error(`${out} holds the atlas of another model (${old.model?.source}); use another --out folder`);
  }
  writeFileAtomic(file, toJson(plan));
}

export function readPlan(out: string): AtlasPlan {
  const file = path.join(out, 'atlas.json');
  if (!fs.existsSync(file)) throw new Error(`${file} not found: ${out} is not an atlas folder (run neuron-lens atlas --out ${out} first)`);
  const plan = readJson(file) as AtlasPlan;
  if (plan.version !== 1 || !Array.isArray(plan.units) || !Array.isArray(plan.batches)) throw new Error(`${file} is not an atlas plan this version reads`);
  return plan;
}

export interface AtlasProgress {
  /** Units finished (including those found done), and in the whole run. */
  done: number;
  total: number;
  /** Optimization step of the current batch. */
  step: number;
  steps: number;
  msPerStep: number;
}

export interface BatchRun {
  /** Units run now (not found done). */
  ran: number;
  cancelled: boolean;
  msPerStep: number;
}

/**
 * Runs the units of one batch that are not done yet and writes their files. `onStep` sees each optimization
 * step; a cancel writes nothing for the batch.
 */
export async function runAtlasBatch(
  model: NLModel, plan: Pick<AtlasPlan, 'settings' | 'params' | 'units'>, batch: number[], out: string,
  hooks: { onStep?: (step: number, steps: number, msPerStep: number) => void; shouldStop?: () => boolean } = {},
): Promise<BatchRun> {
  const todo = batch.map((i) => plan.units[i]).filter((u) => !unitDone(out, u));
  if (!todo.length) return { ran: 0, cancelled: false, msPerStep: 0 };
  const nParams = plan.params.length;
  const r = await runVisualize(model, {
    units: todo.map((u) => u.unit), settings: plan.settings, params: plan.params, shouldStop: hooks.shouldStop,
    onProgress: hooks.onStep && ((p) => hooks.onStep!(p.step + plan.params.indexOf(p.param) * p.steps, p.steps * nParams, p.msPerStep)),
  });
  if (r.cancelled) return { ran: 0, cancelled: true, msPerStep: r.msPerStep };
  for (const u of todo) {
    const mine = r.units.filter((v) => v.spec === u.unit);
    const images: Record<string, string[]> = {};
    const activations: Record<string, number[]> = {};
    for (const v of mine) {
      const png = `units/${u.key}-${v.param}${v.copy !== undefined ? `-d${v.copy}` : ''}.png`;
      writeFileAtomic(path.join(out, png), v.png);
      (images[v.param] ??= []).push(png);
      (activations[v.param] ??= []).push(v.activation);
    }
    const result: AtlasUnitResult = {
      unit: u.unit, label: u.label, layer: u.layer, ...(u.channel !== undefined ? { channel: u.channel } : {}), key: u.key,
      images, activations, steps: mine[0]?.steps ?? 0,
    };
    writeFileAtomic(unitFile(out, u), toJson(result));
  }
  return { ran: todo.length, cancelled: false, msPerStep: r.msPerStep };
}

const EXAMPLES_DIR = 'examples';

/**
 * The dataset examples of every unit of the atlas, one pass over the image folder (examples.ts, itself
 * resumable), into DIR/examples; nothing to do when its examples.json already covers every unit.
 */
export async function runAtlasExamples(model: NLModel, plan: AtlasPlan, out: string, hooks: { onProgress?: (done: number, total: number) => void; signal?: AbortSignal } = {}): Promise<void> {
  if (!plan.examples) return;
  const dir = path.join(out, EXAMPLES_DIR);
  const file = path.join(dir, 'examples.json');
  if (fs.existsSync(file)) {
    const have = new Set(((readJson(file) as { units?: UnitExamples[] }).units ?? []).map((u) => u.unit));
    if (plan.units.every((u) => have.has(u.unit))) return;
  }
  await examples(model, {
    images: plan.examples.images, units: plan.units.map((u) => u.unit), top: plan.examples.top, bottom: plan.examples.bottom, out: dir,
    signal: hooks.signal, onProgress: hooks.onProgress && ((p) => hooks.onProgress!(p.done, p.total)),
  });
}

/** A unit's examples as the index shows them: paths relative to DIR. */
function indexExamples(out: string, plan: AtlasPlan): Map<string, { top: ExampleHit[]; bottom: ExampleHit[] }> {
  if (!plan.examples) return new Map();
  const file = path.join(out, EXAMPLES_DIR, 'examples.json');
  if (!fs.existsSync(file)) throw new Error(`${file} not found: the atlas asks for dataset examples; run it again without --shard (or shard 0) to make them`);
  const images = path.relative(out, plan.examples.images).split(path.sep).join('/');
  const rel = (h: ExampleHit): ExampleHit => ({
    ...h, image: `${images ? `${images}/` : ''}${h.image}`, heatmap: `${EXAMPLES_DIR}/${h.heatmap}`, crop: `${EXAMPLES_DIR}/${h.crop}`,
  });
  return new Map(((readJson(file) as { units: UnitExamples[] }).units).map((u) => [u.unit, { top: u.top.map(rel), bottom: u.bottom.map(rel) }]));
}

export interface AtlasRun {
  plan: AtlasPlan;
  /** Units run now, found done, and still missing (a cancel, or other shards' units). */
  ran: number;
  skipped: number;
  missing: number;
  cancelled: boolean;
  msPerStep: number;
  /** Written when every unit is done and the run was not a shard. */
  index: string | null;
}

export interface AtlasRunOptions {
  out: string;
  shard?: Shard;
  onProgress?: (p: AtlasProgress) => void;
  /** The dataset examples pass: images indexed so far. */
  onExamples?: (done: number, total: number) => void;
  shouldStop?: () => boolean;
}

/** Runs an atlas (or one shard of it) here, skipping finished units; writes the index when all are done. */
export async function runAtlas(model: NLModel, req: AtlasRequest, opts: AtlasRunOptions): Promise<AtlasRun> {
  const plan = planAtlas(model, req);
  writePlan(opts.out, plan);
  const mine = shardBatches(plan, opts.shard);
  const total = mine.reduce((n, k) => n + plan.batches[k].length, 0);
  let done = mine.reduce((n, k) => n + plan.batches[k].filter((i) => unitDone(opts.out, plan.units[i])).length, 0);
  const skipped = done;
  let ran = 0;
  let cancelled = false;
  let msPerStep = 0;
  for (const k of mine) {
    if (opts.shouldStop?.()) { cancelled = true; break; }
    const b = await runAtlasBatch(model, plan, plan.batches[k], opts.out, {
      shouldStop: opts.shouldStop,
      onStep: opts.onProgress && ((step, steps, ms) => opts.onProgress!({ done, total, step, steps, msPerStep: ms })),
    });
    if (b.cancelled) { cancelled = true; break; }
    ran += b.ran;
    done += b.ran;
    msPerStep = Math.max(msPerStep, b.msPerStep);
  }
  // The examples are one pass for all units: a whole run or shard 0 makes them.
  if (!cancelled && (!opts.shard || opts.shard.index === 0)) await runAtlasExamples(model, plan, opts.out, { onProgress: opts.onExamples });
  const missing = plan.units.filter((u) => !unitDone(opts.out, u)).length;
  const index = !opts.shard && missing === 0 ? writeAtlasIndex(opts.out) : null;
  return { plan, ran, skipped, missing, cancelled, msPerStep, index };
}

/** An entry of index.json. */
export interface AtlasIndexUnit {
  unit: string;
  label: string;
  layer: string;
  channel?: number;
  /** The unit's image: Fourier's when it is one of the parameterizations, else the first one's (its first copy). */
  png: string;
  activation: number;
  images: Record<string, string[]>;
  activations: Record<string, number[]>;
  /** With --images: the dataset images that activate the unit most (and least); paths relative to DIR. */
  examples?: { top: ExampleHit[]; bottom: ExampleHit[] };
}

/**
 * Writes DIR/index.json and DIR/index.html from DIR/atlas.json and the units' files (what `--merge` does
 * after shards). Every unit of the plan must be done; the error names those that are not. Returns the
 * index.html path.
 */
export function writeAtlasIndex(out: string): string {
  const plan = readPlan(out);
  const missing = plan.units.filter((u) => !unitDone(out, u));
  if (missing.length) {
    throw new Error(`${missing.length} of ${plan.units.length} units of the atlas in ${out} are not done (${missing.slice(0, 5).map((u) => u.unit).join(', ')}${missing.length > 5 ? ', ...' : ''}): run the missing shards (or the atlas again) first`);
  }
  const ex = indexExamples(out, plan);
  const units: AtlasIndexUnit[] = plan.units.map((u) => {
    const r = readJson(unitFile(out, u)) as AtlasUnitResult;
    for (const p of plan.params) {
      for (const png of r.images[p] ?? []) if (!fs.existsSync(path.join(out, png))) throw new Error(`${path.join(out, png)} is missing (unit ${u.unit}); delete ${unitFile(out, u)} and run again`);
    }
    const first = plan.params.includes('fourier') ? 'fourier' : plan.params[0];
    return {
      unit: u.unit, label: u.label, layer: u.layer, ...(u.channel !== undefined ? { channel: u.channel } : {}),
      png: r.images[first][0], activation: r.activations[first][0], images: r.images, activations: r.activations,
      ...(ex.has(u.unit) ? { examples: ex.get(u.unit) } : {}),
    };
  });
  const index = { model: plan.model, settings: { ...plan.settings, params: plan.params }, units };
  writeFileAtomic(path.join(out, 'index.json'), toJson(index));
  const html = path.join(out, 'index.html');
  writeFileAtomic(html, atlasHtml(index));
  return html;
}

export type AtlasIndex = { model: AtlasPlan['model']; settings: VisualizeSettings & { params: string[] }; units: AtlasIndexUnit[] };
