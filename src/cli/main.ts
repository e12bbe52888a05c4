// The `neuron-lens` command line: a thin shell over src/core.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import type { BackendInfo } from '../core/backend';
import type { NLModel } from '../core/model';
import { describeModel, formatDescription } from '../core/model/describe';
import { parseUnits } from '../core/render/objectives';
import { DEFAULT_VISUALIZE, visualize, type VisualizeOptions, type VisualizeProgress } from '../core/render/visualize';
import { createImage, encodePng, makeGrid, type RGBImage } from '../core/image';
import { GRID_BACKGROUND } from '../core/image/grid';
import { writeFileAtomic } from '../core/util/fs';
import { ATTACK_HELP, ATTACK_USAGE, cmdAttack } from './attack';
import { numberOption, openModel, startBackend, UsageError, withStopOnSigint } from './common';

const VERSION: string = require('../../package.json').version;


const HELP = `neuron-lens ${VERSION}: see what the units of an image network have learned

Usage:
  neuron-lens describe <model> [--json] [--backend B]
  neuron-lens visualize [<model>] --unit SPEC [--unit SPEC ...] [options]
${ATTACK_USAGE}
<model> is a TF.js model.json (layers or graph model) or its folder. Without one, visualize uses the
embedded default model (a Fashion-MNIST CNN).

Units (--unit, repeatable; ranges give one image per index):
  logit:<index|class name>          pre-softmax class logit, e.g. logit:301 or logit:goldfish
  channel:<layer>:<c|a-b>           channel mean over space, e.g. channel:conv_pw_6:0-7
  neuron:<layer>:<c>[:<x>,<y>]      one position of a channel (centre by default)
  vit:<layer>:<d|a-b>[:nocls]       ViT hidden dim d of a [batch, tokens, dim] layer, mean over tokens
  0.5*channel:l:3-channel:l:7       weighted sums and differences of terms

Visualize options:
  --param pixel|fourier|both        image parameterization (default fourier; both = side by side)
  --steps N        optimization steps (default ${DEFAULT_VISUALIZE.steps})
  --size N         side of the optimized image (default: the model's input size)
  --lr X           Adam learning rate (default ${DEFAULT_VISUALIZE.lr})
  --seed N         random seed; same seed + same backend = same PNG bytes (default 0)
  --transforms T   standard | none | list like pad:12,jitter:8,scale:0.9-1.1,rotate:10,jitter:4
  --decay X        Fourier 1/f decay power (default ${DEFAULT_VISUALIZE.decay})
  --tv X --l1 X --l2 X --blur X     regularizer weights (default 0)
  --batch N        most units optimized at once (default ${DEFAULT_VISUALIZE.batch})
  --out DIR        output folder (default out/visualize)
  --json           print the result JSON to stdout

${ATTACK_HELP}Common options:
  --backend auto|wasm|cpu|webgpu|tensorflow   (default auto)
  --input-range LO,HI   how an image in [0,1] maps to the model input (e.g. -1,1); overrides neuron-lens.json
  -h, --help       this help;  --version   the version
`;

const OPTIONS = {
  unit: { type: 'string', multiple: true },
  image: { type: 'string', multiple: true },
  target: { type: 'string', multiple: true },
  method: { type: 'string' },
  epsilon: { type: 'string' },
  step: { type: 'string' },
  update: { type: 'string' },
  'early-stop': { type: 'string' },
  param: { type: 'string' },
  steps: { type: 'string' },
  size: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  transforms: { type: 'string' },
  decay: { type: 'string' },
  tv: { type: 'string' },
  l1: { type: 'string' },
  l2: { type: 'string' },
  blur: { type: 'string' },
  batch: { type: 'string' },
  out: { type: 'string' },
  json: { type: 'boolean' },
  backend: { type: 'string' },
  'input-range': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

function num(values: Values, key: keyof Values, fallback: number, integer = false): number {
  return numberOption(key, values[key], integer) ?? fallback;
}

async function cmdDescribe(values: Values, positionals: string[]): Promise<void> {
  if (positionals.length !== 1) throw new UsageError('describe takes exactly one model path');
  await startBackend(values.backend);
  const model = await openModel(positionals[0], values['input-range']);
  try {
    const d = describeModel(model);
    process.stdout.write(values.json ? JSON.stringify(d, null, 2) + '\n' : formatDescription(d));
  } finally {
    model.dispose();
  }
}

/** A progress line on stderr: a bar with ETA on a terminal, a line per 10% otherwise. */
function progressReporter(totalUnits: number): (p: VisualizeProgress) => void {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return (p) => {
    const frac = (p.chunk * p.steps + p.step) / (p.chunks * p.steps);
    const eta = p.etaMs > 0 ? `ETA ${formatMs(p.etaMs)}` : '';
    const head = `units ${p.unitIndexes[0] + 1}-${p.unitIndexes[p.unitIndexes.length - 1] + 1}/${totalUnits} step ${p.step}/${p.steps} ${p.msPerStep.toFixed(0)} ms/step ${eta}`;
    if (tty) {
      const width = 24;
      const filled = Math.round(frac * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${head}\x1b[K`);
      if (frac >= 1) process.stderr.write('\n');
    } else {
      const decile = Math.floor(frac * 10);
      if (decile !== lastDecile) { lastDecile = decile; process.stderr.write(`${(frac * 100).toFixed(0)}% ${head}\n`); }
    }
  };
}

function formatMs(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

async function cmdVisualize(values: Values, positionals: string[]): Promise<void> {
  if (positionals.length > 1) throw new UsageError('visualize takes at most one model path');
  const params: string[] = (() => {
    const p = values.param ?? 'fourier';
    if (p === 'both') return ['pixel', 'fourier'];
    if (p === 'pixel' || p === 'fourier') return [p];
    throw new UsageError(`--param must be pixel, fourier or both, got "${p}"`);
  })();
  const opts: Partial<VisualizeOptions> = {
    steps: num(values, 'steps', DEFAULT_VISUALIZE.steps, true),
    size: values.size === undefined ? undefined : num(values, 'size', 0, true),
    lr: num(values, 'lr', DEFAULT_VISUALIZE.lr),
    seed: num(values, 'seed', DEFAULT_VISUALIZE.seed, true),
    transforms: values.transforms ?? DEFAULT_VISUALIZE.transforms,
    decay: num(values, 'decay', DEFAULT_VISUALIZE.decay),
    reg: { tv: num(values, 'tv', 0), l1: num(values, 'l1', 0), l2: num(values, 'l2', 0), blur: num(values, 'blur', 0) },
    batch: num(values, 'batch', DEFAULT_VISUALIZE.batch, true),
  };
  if (!values.unit?.length) throw new UsageError('visualize needs at least one --unit (e.g. --unit logit:0, --unit channel:<layer>:0-7)');
  const outDir = path.resolve(values.out ?? path.join('out', 'visualize'));
  const backend = await startBackend(values.backend);
  const model = await openModel(positionals[0], values['input-range']);
  try {
    await withStopOnSigint((stopped) => writeVisualizations(model, backend, values.unit!, params, opts, outDir, stopped, !!values.json));
  } finally {
    model.dispose();
  }
}

async function writeVisualizations(model: NLModel, backend: BackendInfo, specs: string[], params: string[],
  opts: Partial<VisualizeOptions>, outDir: string, stopped: () => boolean, json: boolean): Promise<void> {
  const units = parseUnits(model, specs);
  fs.mkdirSync(outDir, { recursive: true });
  const files: { unit: string; label: string; param: string; file: string; activation: number; steps: number }[] = [];
  const tiles: RGBImage[] = [];
  const labels: string[] = [];
  const used = new Set<string>();
  let msPerStep = 0;
  let cancelled = false;
  for (const param of params) {
    if (cancelled) break;
    if (params.length > 1) process.stderr.write(`parameterization: ${param}\n`);
    const res = await visualize(model, units, { ...opts, param, onProgress: progressReporter(units.length), shouldStop: stopped });
    msPerStep = Math.max(msPerStep, res.msPerStep);
    cancelled = res.cancelled;
    for (const r of res.units) {
      let stem = params.length > 1 ? `${r.unit.fileStem}-${param}` : r.unit.fileStem;
      for (let k = 2; used.has(stem); k++) stem = `${r.unit.fileStem}${params.length > 1 ? `-${param}` : ''}-${k}`;
      used.add(stem);
      const file = `${stem}.png`;
      writeFileAtomic(path.join(outDir, file), encodePng(r.image));
      files.push({ unit: r.unit.spec, label: r.unit.label, param, file, activation: r.activation, steps: r.steps });
      tiles.push(r.image);
      labels.push(`${params.length > 1 ? `${param} ` : ''}${r.unit.label} ${formatActivation(r.activation)}`);
    }
  }
  if (tiles.length) {
    // With both parameterizations: a row of pixel images above a row of Fourier images of the same units.
    const both = params.length > 1 && tiles.length === 2 * units.length;
    const columns = Math.ceil(units.length / Math.ceil(units.length / GRID_COLUMNS));
    const order = both ? pairedRows(units.length, columns) : tiles.map((_, i) => i);
    const blank = createImage(tiles[0].height, tiles[0].width, tiles[0].channels, GRID_BACKGROUND);
    const grid = makeGrid(order.map((i) => (i < 0 ? blank : tiles[i])), order.map((i) => (i < 0 ? '' : labels[i])),
      both ? { columns, tileSize: Math.max(144, tiles[0].width) } : {});
    writeFileAtomic(path.join(outDir, 'grid.png'), encodePng(grid));
  }
  const result = {
    tool: `neuron-lens ${VERSION}`,
    model: { source: model.source, name: model.name, format: model.format, input: model.input, preprocess: model.preprocess.describe },
    backend: { name: backend.name, reason: backend.reason, threads: backend.threads },
    settings: { ...DEFAULT_VISUALIZE, ...opts, params },
    seed: opts.seed,
    msPerStep,
    cancelled,
    outDir,
    grid: tiles.length ? 'grid.png' : null,
    units: files,
  };
  writeFileAtomic(path.join(outDir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  if (json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const status = cancelled ? `stopped early: wrote ${files.length} of ${units.length * params.length} images` : `wrote ${files.length} image(s)`;
  process.stderr.write(`${status} to ${outDir} (grid.png, result.json), ${msPerStep.toFixed(1)} ms/step\n`);
}

const GRID_COLUMNS = 8;

/**
 * Tile order for tiles [p0..pn-1, f0..fn-1]: groups of `columns` units, each a row of pixel images above
 * a row of the same units' Fourier images; -1 is a blank that fills the last group's rows.
 */
function pairedRows(n: number, columns: number): number[] {
  const order: number[] = [];
  for (let g = 0; g < n; g += columns) {
    const group = Array.from({ length: columns }, (_, k) => (g + k < n ? g + k : -1));
    order.push(...group, ...group.map((i) => (i < 0 ? -1 : n + i)));
  }
  return order;
}

function formatActivation(v: number): string {
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2);
}

/** `--input-range -1,1`: parseArgs refuses values that start with a dash; join them as `--opt=value`. */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2) : '';
    const opt = (OPTIONS as Record<string, { type: string }>)[name];
    if (opt?.type === 'string' && i + 1 < argv.length && /^-\d|^-\.\d/.test(argv[i + 1])) {
      out.push(`${argv[i]}=${argv[i + 1]}`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`neuron-lens: ${(e as Error).message} (see neuron-lens --help)\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) { process.stdout.write(`${VERSION}\n`); return 0; }
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) { process.stdout.write(HELP); return values.help ? 0 : 2; }
  try {
    if (cmd === 'describe') await cmdDescribe(values, rest);
    else if (cmd === 'visualize') await cmdVisualize(values, rest);
    else if (cmd === 'attack') await cmdAttack(values, rest);
    else throw new UsageError(`unknown command "${cmd}" (expected describe, visualize or attack)`);
    return 0;
  } catch (e) {
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}neuron-lens: error: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
