// `npm run bench`: times the AM step the product runs (bench/step.ts -> visualize) on MobileNet v1, a
// ResNet50V2, InceptionV3 and ViT-B/16 with random weights, on every available backend, beside the same step in
// PyTorch (bench/torch_peer.py) in the same run, and prints ratio = ours / PyTorch.
//
//   npm run bench -- [--models mobilenet_v1,resnet50v2,inceptionv3,vit_b16] [--batches 1,8] [--steps 10]
//                    [--backends tensorflow,webgpu,wasm,wasm-js,cpu] [--repeats 1] [--fold on|off|both] [--no-torch] [--json]
//                    [--formats keras,onnx] [--baseline DIR]
//
// --formats: keras (default) runs the architectures through the Keras interpreter (bench/models.ts); onnx exports
// the same architecture from PyTorch (bench/torch_peer.py --export-onnx, random weights, Debian's /usr/bin/python3)
// to a temporary .onnx and loads it through loadModel, as a user's file (--fold applies to keras rows only). Without
// PyTorch the onnx rows are printed as skipped, with the reason.
//
// --baseline DIR: DIR is another checkout of the project (e.g. `git archive main`) with this bench/ copied in;
// its cases run beside ours, alternately, as variant "baseline" (before/after in the same run).
// Backends: wasm runs the native oneDNN kernels when they are built (rows say wasm+onednn), wasm-js never does.
//
// Every case runs in a child process (a fresh backend and a clean peak RSS); a backend that cannot start is
// reported once and skipped. Cases run alternately (ours, then PyTorch, per repeat) so machine load hits both;
// with --repeats R the figure is the median of the R per-run medians. Wall ms is the headline; process CPU ms
// per step is printed beside it because on a shared machine it is less sensitive to other processes.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { BackendName } from '../src/core/backend';
import { BENCH_MODELS, type BenchModel } from './models';
import { editorBench } from './editor';
import { runCase, type StepResult } from './step';

const PYTHON = '/usr/bin/python3';
const TORCH_PEER = path.join(__dirname, 'torch_peer.py');
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3';
// wasm-js: wasm without the native oneDNN kernels (NEURON_LENS_NATIVE=0), to see what they buy.
type BenchBackend = BackendName | 'wasm-js';
const BACKENDS: BenchBackend[] = ['tensorflow', 'webgpu', 'wasm', 'wasm-js', 'cpu'];

type BenchFormat = 'keras' | 'onnx';
const FORMATS: BenchFormat[] = ['keras', 'onnx'];

export interface BenchRow {
  model: BenchModel;
  format: BenchFormat;
  backend: string;
  batch: number;
  fold: boolean;
  /** '' for this checkout; 'baseline' for --baseline DIR. */
  variant: string;
  msPerStep: number | null;
  msPerImage: number | null;
  cpuMsPerStep: number | null;
  peakRssMB: number | null;
  tensorGrowth: number | null;
  torchMsPerStep: number | null;
  torchCpuMsPerStep: number | null;
  /** ours / PyTorch, wall ms per step (null without PyTorch). */
  ratio: number | null;
  cpuRatio: number | null;
  runs: number;
  error?: string;
}

interface Options {
  models: BenchModel[];
  batches: number[];
  steps: number;
  backends: BenchBackend[];
  repeats: number;
  folds: boolean[];
  formats: BenchFormat[];
  baseline: string | null;
  torch: boolean;
  json: boolean;
}

const VALUE_FLAGS = ['models', 'batches', 'steps', 'backends', 'repeats', 'fold', 'formats', 'baseline'];
const SWITCHES = ['no-torch', 'json'];

function parseArgs(argv: string[]): Options {
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '');
    if (!argv[i].startsWith('--') || ![...VALUE_FLAGS, ...SWITCHES].includes(name)) {
      throw new Error(`unknown argument "${argv[i]}" (usage: npm run bench -- [--models m,...] [--batches 1,8] [--steps N] [--backends b,...] [--repeats R] [--fold on|off|both] [--formats keras,onnx] [--no-torch] [--json] [--baseline DIR])`);
    }
    if (VALUE_FLAGS.includes(name)) i++;
  }
  const get = (name: string, def: string): string => {
    const i = argv.indexOf(`--${name}`);
    if (i < 0) return def;
    if (i + 1 >= argv.length || argv[i + 1].startsWith('--')) throw new Error(`--${name} needs a value`);
    return argv[i + 1];
  };
  const list = (name: string, def: string) => get(name, def).split(',').map((s) => s.trim()).filter(Boolean);
  const int = (name: string, v: string, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer >= ${min}, got "${v}"`);
    return n;
  };
  const models = list('models', BENCH_MODELS.join(',')) as BenchModel[];
  for (const m of models) if (!BENCH_MODELS.includes(m)) throw new Error(`--models: unknown model "${m}" (known: ${BENCH_MODELS.join(', ')})`);
  const backends = list('backends', 'tensorflow,webgpu,wasm') as BenchBackend[];
  for (const b of backends) if (!BACKENDS.includes(b)) throw new Error(`--backends: unknown backend "${b}" (known: ${BACKENDS.join(', ')})`);
  const formats = list('formats', 'keras') as BenchFormat[];
  for (const f of formats) if (!FORMATS.includes(f)) throw new Error(`--formats: unknown format "${f}" (known: ${FORMATS.join(', ')})`);
  const fold = get('fold', 'on');
  if (!['on', 'off', 'both'].includes(fold)) throw new Error(`--fold: expected on, off or both, got "${fold}"`);
  return {
    models,
    batches: list('batches', '1,8').map((b) => int('batches', b, 1)),
    steps: int('steps', get('steps', '10'), 1),
    backends,
    repeats: int('repeats', get('repeats', '1'), 1),
    folds: fold === 'both' ? [false, true] : [fold === 'on'],
    formats,
    baseline: argv.includes('--baseline') ? path.resolve(get('baseline', '')) : null,
    torch: !argv.includes('--no-torch'),
    json: argv.includes('--json'),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Runs a command, collecting stdout and stderr; never throws. */
function exec(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', (e) => resolve({ code: -1, signal: null, out, err: err + e.message }));
    p.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
}

/**
 * One case of ours in a child process (this script in --case mode, with the same Node flags, e.g. tsx's loader);
 * `onnx`: the model file to load instead of the Keras builder.
 */
async function ourCase(script: string, model: BenchModel, backend: BenchBackend, batch: number, steps: number, fold: boolean, onnx?: string): Promise<StepResult | { error: string; cannotStart: boolean }> {
  const args = [...process.execArgv, script, '--case', model, backend === 'wasm-js' ? 'wasm' : backend, String(batch), String(steps), fold ? 'fold' : 'nofold', ...(onnx ? [onnx] : [])];
  const r = await exec(process.execPath, args, backend === 'wasm-js' ? { ...process.env, NEURON_LENS_NATIVE: '0' } : process.env);
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  if (r.code === 0 && line) return JSON.parse(line) as StepResult;
  const msg = (r.err.trim().split('\n').filter(Boolean).pop() ?? '') || `exit ${r.code ?? r.signal}`;
  return { error: msg.slice(0, 300), cannotStart: /cannot start/.test(r.err) };
}

interface TorchSetup { ok: boolean; why: string; env: NodeJS.ProcessEnv }

function torchSetup(): TorchSetup {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '2' };
  if (fs.existsSync(OPENBLAS)) env.LD_PRELOAD = OPENBLAS;
  if (!fs.existsSync(PYTHON)) return { ok: false, why: `${PYTHON} not found`, env };
  if (!fs.existsSync(TORCH_PEER)) return { ok: false, why: `${TORCH_PEER} not found (a bundled bench: copy bench/torch_peer.py next to it)`, env };
  const r = spawnSync(PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__)'], { env, encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, why: `PyTorch does not import in ${PYTHON}: ${(r.stderr || '').trim().split('\n').pop()}`, env };
  const note = fs.existsSync(OPENBLAS) ? `OpenBLAS (LD_PRELOAD ${OPENBLAS}, OPENBLAS_NUM_THREADS=1)` : 'reference BLAS (apt-get install libopenblas0-pthread for OpenBLAS)';
  return { ok: true, why: `torch ${r.stdout.trim()}, 2 threads, ${note}`, env };
}

async function torchCase(t: TorchSetup, model: BenchModel, batch: number, steps: number): Promise<{ msPerStep: number; cpuMsPerStep: number; blas: string[] } | { error: string }> {
  const r = await exec(PYTHON, [TORCH_PEER, '--models', model, '--batches', String(batch), '--steps', String(steps), '--threads', '2'], t.env);
  const line = r.out.split('\n').find((l) => l.startsWith('{'));
  if (r.code === 0 && line) return JSON.parse(line);
  return { error: ((r.err.trim().split('\n').pop() ?? '') || `exit ${r.code ?? r.signal}`).slice(0, 300) };
}

/** Exports `model` from PyTorch to an .onnx file in `dir` (bench/torch_peer.py --export-onnx). */
async function exportOnnx(t: TorchSetup, model: BenchModel, dir: string): Promise<{ file: string } | { error: string }> {
  if (!t.ok) return { error: `PyTorch not available: ${t.why}` };
  const file = path.join(dir, `${model}.onnx`);
  const r = await exec(PYTHON, [TORCH_PEER, '--models', model, '--export-onnx', file], t.env);
  if (r.code === 0 && fs.existsSync(file)) return { file };
  return { error: `ONNX export failed: ${((r.err.trim().split('\n').pop() ?? '') || `exit ${r.code ?? r.signal}`).slice(0, 300)}` };
}

const fmt = (v: number | null, digits = 0): string => (v === null ? '-' : v.toFixed(digits));

const foldCol = (r: BenchRow): string => (r.format === 'onnx' ? '-' : r.fold ? 'on' : 'off');

function printTable(rows: BenchRow[]): void {
  const head = ['model', 'format', 'backend', 'variant', 'batch', 'fold', 'ms/step', 'ms/image', 'cpu ms/step', 'peak RSS MB', 'tensor growth', 'torch ms/step', 'torch cpu ms', 'ratio', 'cpu ratio'];
  const body = rows.map((r) => r.error
    ? [r.model, r.format, r.backend, r.variant || 'this', String(r.batch), foldCol(r), `error: ${r.error}`, '', '', '', '', fmt(r.torchMsPerStep), fmt(r.torchCpuMsPerStep), '', '']
    : [r.model, r.format, r.backend, r.variant || 'this', String(r.batch), foldCol(r), fmt(r.msPerStep), fmt(r.msPerImage, 1), fmt(r.cpuMsPerStep), fmt(r.peakRssMB), fmt(r.tensorGrowth), fmt(r.torchMsPerStep), fmt(r.torchCpuMsPerStep), r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`, r.cpuRatio === null ? '-' : `${r.cpuRatio.toFixed(2)}x`]);
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const b of body) console.log(`| ${b.join(' | ')} |`);
}

async function main(argv: string[]): Promise<void> {
  const o = parseArgs(argv);
  const log = (s: string) => { if (!o.json) console.log(s); else process.stderr.write(`${s}\n`); };
  const torch = o.torch ? torchSetup() : { ok: false, why: 'skipped (--no-torch)', env: process.env };
  // The onnx rows need PyTorch to export the model, also with --no-torch (which only skips the timing peer).
  const exporter = o.formats.includes('onnx') ? (o.torch ? torch : torchSetup()) : torch;
  const tmp = o.formats.includes('onnx') ? fs.mkdtempSync(path.join(os.tmpdir(), 'nl-bench-')) : null;
  log(`Neuron Lens bench ${new Date().toISOString()} — node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  log(`PyTorch peer: ${torch.ok ? torch.why : `not run: ${torch.why}`}`);
  log(`steps ${o.steps} (+1 warm-up) per case, ${o.repeats} repeat(s), alternating ours / PyTorch\n`);
  const variants = [
    ...(o.baseline ? [{ variant: 'baseline', script: path.join(o.baseline, 'bench', 'run.ts'), fold: false }] : []),
    ...o.folds.map((fold) => ({ variant: '', script: process.argv[1], fold })),
  ].flatMap((v) => o.formats
    // --fold does not apply to onnx: one onnx case per script
    .filter((format) => format === 'keras' || v.variant === 'baseline' || v.fold === o.folds[0])
    .map((format) => ({ ...v, format })));
  if (o.baseline) log(`baseline: ${o.baseline}`);
  const dead = new Map<string, string>();
  const rows: BenchRow[] = [];
  try {
    for (const model of o.models) {
      const onnx = tmp ? await exportOnnx(exporter, model, tmp) : null;
      if (onnx && 'error' in onnx) log(`${model} onnx rows skipped: ${onnx.error}`);
      for (const batch of o.batches) {
        const ours = new Map<string, StepResult[]>();
        const errors = new Map<string, string>();
        const torchMs: number[] = [];
        const torchCpu: number[] = [];
        let torchErr: string | undefined;
        for (let rep = 0; rep < o.repeats; rep++) {
          for (const backend of o.backends) {
            if (dead.has(backend)) continue;
            for (const { variant, script, fold, format } of variants) {
              const key = `${backend}|${variant}|${fold}|${format}`;
              if (errors.has(key)) continue;
              if (format === 'onnx' && onnx && 'error' in onnx) { errors.set(key, `skipped: ${onnx.error}`); continue; }
              const r = await ourCase(script, model, backend, batch, o.steps, fold, format === 'onnx' ? (onnx as { file: string }).file : undefined);
              if ('error' in r) {
                if (r.cannotStart) { dead.set(backend, r.error); log(`backend ${backend} skipped: ${r.error}`); break; }
                errors.set(key, r.error);
                log(`${model} ${backend} batch ${batch}: ${r.error}`);
              } else {
                ours.set(key, [...(ours.get(key) ?? []), r]);
                log(`  ${model} ${format} ${r.backend}${variant ? ` (${variant})` : ''} batch ${batch} fold ${fold ? 'on' : 'off'}: ${r.msPerStep.toFixed(0)} ms/step (cpu ${r.cpuMsPerStep.toFixed(0)}) steps [${r.stepMs.map((t) => t.toFixed(0)).join(' ')}] ${r.backendInfo}`);
              }
            }
          }
          if (torch.ok && !torchErr) {
            const t = await torchCase(torch, model, batch, o.steps);
            if ('error' in t) { torchErr = t.error; log(`  torch ${model} batch ${batch}: ${t.error}`); }
            else { torchMs.push(t.msPerStep); torchCpu.push(t.cpuMsPerStep); log(`  torch ${model} batch ${batch}: ${t.msPerStep.toFixed(0)} ms/step (cpu ${t.cpuMsPerStep.toFixed(0)}) blas ${t.blas.map((b) => path.basename(b)).join(',')}`); }
          }
        }
        const tMs = torchMs.length ? median(torchMs) : null;
        const tCpu = torchCpu.length ? median(torchCpu) : null;
        for (const backend of o.backends) {
          for (const { variant, fold, format } of variants) {
            const key = `${backend}|${variant}|${fold}|${format}`;
            const rs = ours.get(key);
            const err = errors.get(key);
            if (!rs && !err) continue;
            const ms = rs ? median(rs.map((r) => r.msPerStep)) : null;
            const cpu = rs ? median(rs.map((r) => r.cpuMsPerStep)) : null;
            const row: BenchRow = {
              model, format, backend: rs?.[0].backend ?? backend, batch, fold, variant,
              msPerStep: ms, msPerImage: ms === null ? null : ms / batch, cpuMsPerStep: cpu,
              peakRssMB: rs ? Math.max(...rs.map((r) => r.peakRssMB)) : null,
              tensorGrowth: rs ? Math.max(...rs.map((r) => Math.max(Math.abs(r.tensorGrowthPerRun), Math.abs(r.tensorGrowthTotal)))) : null,
              torchMsPerStep: tMs, torchCpuMsPerStep: tCpu,
              ratio: ms !== null && tMs ? ms / tMs : null,
              cpuRatio: cpu !== null && tCpu ? cpu / tCpu : null,
              runs: rs?.length ?? 0,
              ...(rs ? {} : { error: err }),
            };
            rows.push(row);
            if (o.json) process.stdout.write(`${JSON.stringify(row)}\n`);
          }
        }
      }
    }
  } finally {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  }
  if (!o.json) { console.log(''); printTable(rows); }
}

async function caseMain(argv: string[]): Promise<void> {
  const i = argv.indexOf('--case');
  const [model, backend, batch, steps, fold, onnx] = argv.slice(i + 1, i + 7);
  const r = await runCase(model as BenchModel, backend as BackendName, Number(batch), Number(steps), fold === 'fold', onnx);
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

const argv = process.argv.slice(2);
// --editor: the engine child process against the in-process CLI path (bench/editor.ts).
(argv.includes('--case') ? caseMain(argv) : argv.includes('--editor') ? editorBench(argv).then(() => undefined) : main(argv)).then(() => process.exit(0), (e) => {
  process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
