// The visualize job: plain settings in (defaults from the one option table), PNG buffers and the result
// JSON out. The CLI writes them to a folder, the engine sends them over the protocol.
import type { BackendInfo } from '../backend';
import type { NLModel } from '../model/types';
import { createImage, encodePng, makeGrid, type RGBImage } from '../image';
import { GRID_BACKGROUND } from '../image/grid';
import { parseUnits } from '../render/objectives';
import { paramNames } from '../render/param';
import { visualize, type VisualizeProgress } from '../render/visualize';
import { checkStepMemory } from './memory';
import { MAX_IMAGES, optionProblem, VISUALIZE_DEFAULTS, VISUALIZE_OPTIONS } from './options';
import { Stems, toJson } from './output';

/** Every setting of a visualization; the option table's defaults fill what is not given. */
export interface VisualizeSettings {
  /** A registered parameterization. */
  param: string;
  steps: number;
  /** Side of the optimized image; undefined: the model's input size. */
  size?: number;
  lr: number;
  seed: number;
  transforms: string;
  decay: number;
  tv: number;
  l1: number;
  l2: number;
  blur: number;
  batch: number;
  /** Images per unit, optimized for diversity (undefined: one image per unit). */
  diversity?: number;
  diversityLayer?: string;
  diversityWeight: number;
}

export interface VisualizeJob {
  /** Unit specs as the CLI takes them (`channel:conv_pw_6:0-7`). */
  units: string[];
  settings?: Partial<VisualizeSettings>;
  /** Run every one of these parameterizations in turn (a comparison); default: `settings.param` alone. */
  params?: string[];
  /** Preview images every this many steps (0: never). */
  previewEvery?: number;
  /** Also render the grid sheet (grid.png). */
  grid?: boolean;
  onProgress?: (p: VisualizeProgress & { param: string }) => void;
  shouldStop?: () => boolean;
}

export interface VisualizedUnit {
  spec: string;
  label: string;
  param: string;
  /** File stem, unique in the job: `channel-conv_pw_6-3`, `-d<k>` for a diversity copy, `-<param>` in a comparison. */
  stem: string;
  activation: number;
  steps: number;
  png: Buffer;
  /** The parameterization's importance map (MACO), when it has one. */
  importancePng?: Buffer;
  /** Index of the diversity copy, when the objective asked for several. */
  copy?: number;
}

export interface VisualizeJobResult {
  settings: VisualizeSettings;
  params: string[];
  units: VisualizedUnit[];
  /** Unit count requested per parameterization (before a cancel). */
  requested: number;
  msPerStep: number;
  cancelled: boolean;
  /** grid.png, when asked for and there is at least one image. */
  gridPng: Buffer | null;
}

/** The settings with defaults filled in, every value checked against the option table and the registries. */
export function resolveVisualizeSettings(given: Partial<VisualizeSettings> = {}): VisualizeSettings {
  const s: Record<string, unknown> = { ...VISUALIZE_DEFAULTS };
  for (const [k, v] of Object.entries(given)) if (v !== undefined) s[k] = v;
  for (const o of VISUALIZE_OPTIONS) {
    if (s[o.key] === undefined) continue;
    const problem = optionProblem(o, s[o.key]);
    if (problem) throw new Error(problem);
  }
  checkParam(s.param as string);
  return s as unknown as VisualizeSettings;
}

/** A parameterization the registry knows, or an error listing those it does. */
export function checkParam(param: string): void {
  if (!paramNames().includes(param)) throw new Error(`unknown parameterization "${param}" (expected ${paramNames().join(', ')})`);
}

export async function runVisualize(model: NLModel, job: VisualizeJob): Promise<VisualizeJobResult> {
  const settings = resolveVisualizeSettings(job.settings);
  const params = job.params ?? [settings.param];
  params.forEach(checkParam);
  const units = parseUnits(model, job.units);
  const { tv, l1, l2, blur, diversity, diversityLayer, diversityWeight, ...rest } = settings;
  if (diversityLayer !== undefined && diversity === undefined) throw new Error('--diversity-layer needs --diversity N');
  const total = units.length * (diversity ?? 1) * params.length;
  if (total > MAX_IMAGES) throw new Error(`visualize: ${units.length} unit(s) x ${diversity ?? 1} cop${diversity ? 'ies' : 'y'} x ${params.length} parameterization(s) make ${total} images, more than the ${MAX_IMAGES} one job may; give fewer --unit ranges or split the work into several jobs`);
  // A chunk holds --batch images (a unit's diversity copies are never split), or all the units when fewer.
  const copies = diversity ?? 1;
  const chunk = Math.min(units.length, Math.max(1, Math.floor(settings.batch / copies))) * copies;
  checkStepMemory(model, settings.size ?? Math.max(model.input.height, model.input.width), chunk, 'visualize', `--size${diversity ? ', --diversity' : ''} or --batch`);
  const stems = new Stems();
  const out: VisualizedUnit[] = [];
  const tiles: RGBImage[] = [];
  const labels: string[] = [];
  let msPerStep = 0;
  let cancelled = false;
  for (const param of params) {
    if (cancelled) break;
    const r = await visualize(model, units, {
      ...rest, param, reg: { tv, l1, l2, blur }, previewEvery: job.previewEvery ?? 0,
      ...(diversity !== undefined ? { diversity: { count: diversity, layer: diversityLayer, weight: diversityWeight } } : {}),
      onProgress: job.onProgress && ((p) => job.onProgress!({ ...p, param })),
      shouldStop: job.shouldStop,
    });
    msPerStep = Math.max(msPerStep, r.msPerStep);
    cancelled = r.cancelled;
    for (const u of r.units) {
      if (!Number.isFinite(u.activation)) {
        throw new Error(`${model.source}: unit "${u.unit.spec}" gives an activation that is not a finite number on a finite image: the model's weights or its input mapping hold non-finite values`);
      }
      const copy = u.copy;
      const stem = stems.take(`${u.unit.fileStem}${copy !== undefined ? `-d${copy}` : ''}${params.length > 1 ? `-${param}` : ''}`);
      out.push({
        spec: u.unit.spec, label: u.unit.label, param, stem, activation: u.activation, steps: u.steps, png: encodePng(u.image),
        ...(u.importance ? { importancePng: encodePng(u.importance) } : {}),
        ...(copy !== undefined ? { copy } : {}),
      });
      tiles.push(u.image);
      labels.push(`${params.length > 1 ? `${param} ` : ''}${u.unit.label}${copy !== undefined ? ` #${copy}` : ''} ${formatActivation(u.activation)}`);
    }
  }
  const images = units.length * (diversity ?? 1);
  const gridPng = job.grid && tiles.length ? encodePng(gridSheet(tiles, labels, params.length, images, diversity)) : null;
  return { settings, params, units: out, requested: images, msPerStep, cancelled, gridPng };
}

const GRID_COLUMNS = 8;

/**
 * One tile per image; with several parameterizations, rows of the same units one above the other; with
 * diversity copies (and one parameterization), a row per unit.
 */
function gridSheet(tiles: RGBImage[], labels: string[], nParams: number, nUnits: number, copies?: number): RGBImage {
  const paired = nParams > 1 && tiles.length === nParams * nUnits;
  if (!paired) return makeGrid(tiles, labels, copies ? { columns: copies } : {});
  const columns = Math.ceil(nUnits / Math.ceil(nUnits / GRID_COLUMNS));
  const order = pairedRows(nUnits, nParams, columns);
  const blank = createImage(tiles[0].height, tiles[0].width, tiles[0].channels, GRID_BACKGROUND);
  return makeGrid(order.map((i) => (i < 0 ? blank : tiles[i])), order.map((i) => (i < 0 ? '' : labels[i])),
    { columns, tileSize: Math.max(144, tiles[0].width) });
}

/**
 * Tile order for tiles [p0 units..., p1 units..., ...]: groups of `columns` units, each a row per
 * parameterization of the same units; -1 is a blank that fills the last group's rows.
 */
export function pairedRows(n: number, nParams: number, columns: number): number[] {
  const order: number[] = [];
  for (let g = 0; g < n; g += columns) {
    const group = Array.from({ length: columns }, (_, k) => (g + k < n ? g + k : -1));
    for (let p = 0; p < nParams; p++) order.push(...group.map((i) => (i < 0 ? -1 : p * n + i)));
  }
  return order;
}

export function formatActivation(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}

/** What a result JSON says about the run: the tool, the model and the backend. */
export interface RunContext {
  /** `neuron-lens 0.1.0`. */
  tool: string;
  backend: BackendInfo;
  outDir: string;
}

export function modelSummary(model: NLModel) {
  return { source: model.source, name: model.name, format: model.format, input: model.input, preprocess: model.preprocess.describe };
}

export function backendSummaryJson(b: BackendInfo) {
  return { name: b.name, reason: b.reason, threads: b.threads, ...(b.native ? { native: b.native } : {}) };
}

/** The files of a visualization: one PNG per unit (+ importance maps), grid.png and result.json. */
export function visualizeFiles(model: NLModel, r: VisualizeJobResult, ctx: RunContext): { files: Record<string, Buffer | string>; result: object } {
  const files: Record<string, Buffer | string> = {};
  const units = r.units.map((u) => {
    files[`${u.stem}.png`] = u.png;
    if (u.importancePng) files[`${u.stem}-importance.png`] = u.importancePng;
    return {
      unit: u.spec, label: u.label, param: u.param, file: `${u.stem}.png`,
      ...(u.importancePng ? { importance: `${u.stem}-importance.png` } : {}),
      ...(u.copy !== undefined ? { copy: u.copy } : {}),
      activation: u.activation, steps: u.steps,
    };
  });
  if (r.gridPng) files['grid.png'] = r.gridPng;
  const result = {
    tool: ctx.tool,
    model: modelSummary(model),
    backend: backendSummaryJson(ctx.backend),
    settings: { ...r.settings, params: r.params },
    seed: r.settings.seed,
    msPerStep: r.msPerStep,
    cancelled: r.cancelled,
    outDir: ctx.outDir,
    grid: r.gridPng ? 'grid.png' : null,
    units,
  };
  files['result.json'] = toJson(result);
  return { files, result };
}
