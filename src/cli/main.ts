// The `neuron-lens` command line: a thin shell over src/core/jobs. Options, defaults, unit kinds,
// parameterizations, backends and model file kinds all come from core's tables and registries.
import * as path from 'path';
import { parseArgs } from 'util';
import { BACKEND_SETTINGS } from '../core/backend/names';
import { modelFilesHelp } from '../core/model/formats';
import { unitKindInfos } from '../core/render/objectives';
import { paramInfos } from '../core/render/param';
import type { VisualizeProgress } from '../core/render/visualize';
import {
  describeJob, ExamplesStopped, formatJobDescription, prepareOutDir, runVisualize, visualizeFiles, writeFiles, VISUALIZE_OPTIONS, type VisualizeSettings,
} from '../core/jobs';
import { ATTACK_HELP, ATTACK_USAGE, cmdAttack } from './attack';
import { ATLAS_HELP, ATLAS_USAGE, cmdAtlas, cmdWorker } from './atlas';
import { cmdExamples, EXAMPLES_HELP, EXAMPLES_USAGE } from './examples';
import { OPTIONS, openModel, optionLines, readOptions, readParams, startBackend, TOOL, UsageError, VERSION, withStopOnSigint, type Values } from './common';

/** The help text, generated from the option table and the registries (so a new kind or parameterization shows up). */
export function helpText(): string {
  const kinds = unitKindInfos();
  const kw = Math.max(...kinds.map((k) => k.syntax.length), 30);
  const params = paramInfos();
  const pw = Math.max(...params.map((p) => p.name.length));
  return `neuron-lens ${VERSION}: see what the units of an image network have learned

Usage:
  neuron-lens describe <model> [--json] [--backend B]
  neuron-lens visualize [<model>] --unit SPEC [--unit SPEC ...] [options]
${ATTACK_USAGE}${EXAMPLES_USAGE}${ATLAS_USAGE}
<model> is a model file (or a folder holding a model.json). Without one, visualize uses the embedded
default model (a Fashion-MNIST CNN), and so does examples. Model files:
${modelFilesHelp('  ')}

Units (--unit, repeatable; ranges give one image per index):
${kinds.map((k) => `  ${k.syntax.padEnd(kw)}  ${k.description}, e.g. ${k.example}`).join('\n')}
  ${'0.5*channel:l:3-channel:l:7'.padEnd(kw)}  weighted sums and differences of terms

Parameterizations (--param NAME, a list like pixel,fourier, or all: side by side; both = pixel,fourier):
${params.map((p) => `  ${p.name.padEnd(pw)}  ${p.description}`).join('\n')}

Visualize options:
${optionLines(VISUALIZE_OPTIONS)}
  --out DIR            output folder (default out/visualize)
  --json               print the result JSON to stdout

${ATTACK_HELP}${EXAMPLES_HELP}${ATLAS_HELP}Common options:
  --backend B          ${BACKEND_SETTINGS.join(' | ')} (default auto)
  --input-range LO,HI  how an image in [0,1] maps to the model input (e.g. -1,1); overrides neuron-lens.json
  -h, --help           this help;  --version   the version
`;
}

async function cmdDescribe(values: Values, positionals: string[]): Promise<void> {
  if (positionals.length !== 1) throw new UsageError('describe takes exactly one model path');
  await startBackend(values.backend as string | undefined);
  const model = await openModel(positionals[0], values['input-range'] as string | undefined);
  try {
    const d = describeJob(model);
    process.stdout.write(values.json ? JSON.stringify(d, null, 2) + '\n' : formatJobDescription(d));
  } finally {
    model.dispose();
  }
}

/** A progress line on stderr: a bar with ETA on a terminal, a line per 10% otherwise. */
function progressReporter(): (p: VisualizeProgress) => void {
  const tty = process.stderr.isTTY;
  let lastDecile = -1;
  return (p) => {
    const frac = (p.chunk * p.steps + p.step) / (p.chunks * p.steps);
    const eta = p.etaMs > 0 ? `ETA ${formatMs(p.etaMs)}` : '';
    const head = `units ${p.unitIndexes[0] + 1}-${p.unitIndexes[p.unitIndexes.length - 1] + 1}/${p.units} step ${p.step}/${p.steps} ${p.msPerStep.toFixed(0)} ms/step ${eta}`;
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
  const params = readParams(values.param as string | undefined);
  const settings = readOptions(VISUALIZE_OPTIONS, values, ['param']) as Partial<VisualizeSettings>;
  const units = values.unit as string[] | undefined;
  if (!units?.length) throw new UsageError('visualize needs at least one --unit (e.g. --unit logit:0, --unit channel:<layer>:0-7)');
  const outDir = prepareOutDir((values.out as string | undefined) ?? path.join('out', 'visualize'), '--out', false);
  const backend = await startBackend(values.backend as string | undefined);
  const model = await openModel(positionals[0], values['input-range'] as string | undefined);
  try {
    await withStopOnSigint(async (stopped) => {
      let current = '';
      const report = progressReporter();
      const r = await runVisualize(model, {
        units, settings: { ...settings, ...(params?.length === 1 ? { param: params[0] } : {}) }, params, grid: true, shouldStop: stopped,
        onProgress: (p) => {
          if ((params?.length ?? 1) > 1 && p.param !== current) process.stderr.write(`parameterization: ${(current = p.param)}\n`);
          report(p);
        },
      });
      const { files, result } = visualizeFiles(model, r, { tool: TOOL, backend, outDir });
      writeFiles(outDir, files);
      if (values.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
      const status = r.cancelled ? `stopped early: wrote ${r.units.length} of ${r.requested * r.params.length} images` : `wrote ${r.units.length} image(s)`;
      process.stderr.write(`${status} to ${outDir} (grid.png, result.json), ${r.msPerStep.toFixed(1)} ms/step\n`);
    });
  } finally {
    model.dispose();
  }
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
  const values = parsed.values as Values;
  const { positionals } = parsed;
  if (values.version) { process.stdout.write(`${VERSION}\n`); return 0; }
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) { process.stdout.write(helpText()); return values.help ? 0 : 2; }
  try {
    if (cmd === 'describe') await cmdDescribe(values, rest);
    else if (cmd === 'visualize') await cmdVisualize(values, rest);
    else if (cmd === 'attack') await cmdAttack(values, rest);
    else if (cmd === 'examples') await cmdExamples(values, rest);
    else if (cmd === 'atlas') await cmdAtlas(values, rest);
    else if (cmd === 'worker') await cmdWorker(values, rest);
    else throw new UsageError(`unknown command "${cmd}" (expected describe, visualize, attack, examples, atlas or worker)`);
    return 0;
  } catch (e) {
    if (e instanceof ExamplesStopped) { process.stderr.write(`neuron-lens: ${e.message}\n`); return 130; }
    process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}neuron-lens: error: ${(e as Error).message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
