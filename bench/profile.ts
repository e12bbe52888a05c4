// Where the time of one AM step goes: runs the product's `visualize` for warm-up + N steps under tf.profile and
// prints kernel time per kernel (and per kernel + input shapes), summed over the profiled steps, divided by N.
//   npx tsx bench/profile.ts [--model mobilenet_v1] [--backend wasm] [--batch 1] [--steps 3] [--no-fold] [--top 25]
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../src/core/backend';
import { parseUnits } from '../src/core/render/objectives';
import { visualize } from '../src/core/render/visualize';
import { BENCH_MODELS, buildBenchModel, type BenchModel } from './models';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

async function main(): Promise<void> {
  const model = arg('model', 'mobilenet_v1') as BenchModel;
  if (!BENCH_MODELS.includes(model)) throw new Error(`unknown --model ${model} (known: ${BENCH_MODELS.join(', ')})`);
  const batch = Number(arg('batch', '1'));
  const steps = Number(arg('steps', '3'));
  const top = Number(arg('top', '25'));
  const info = await initBackend(arg('backend', 'wasm') as BackendName);
  console.log(info.reason);
  const m = buildBenchModel(model, { foldBatchNorm: !process.argv.includes('--no-fold') });
  const units = parseUnits(m, [`logit:0-${batch - 1}`]);
  await visualize(m, units, { steps: 1, batch }); // warm-up outside the profile
  const t0 = performance.now();
  const prof = await tf.profile(async () => { await visualize(m, units, { steps, batch }); });
  const wall = (performance.now() - t0) / steps;
  m.dispose();
  const byKernel = new Map<string, { ms: number; n: number }>();
  const byShape = new Map<string, { ms: number; n: number }>();
  let total = 0;
  for (const k of prof.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    total += ms;
    const a = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    a.ms += ms; a.n++;
    byKernel.set(k.name, a);
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    const b = byShape.get(key) ?? { ms: 0, n: 0 };
    b.ms += ms; b.n++;
    byShape.set(key, b);
  }
  const show = (title: string, m: Map<string, { ms: number; n: number }>) => {
    console.log(`\n${title} (ms per step, calls per step, % of kernel time)`);
    for (const [k, v] of [...m].sort((x, y) => y[1].ms - x[1].ms).slice(0, top)) {
      console.log(`${(v.ms / steps).toFixed(1).padStart(9)} ${String(v.n / steps).padStart(6)} ${((100 * v.ms) / total).toFixed(1).padStart(5)}%  ${k}`);
    }
  };
  console.log(`\n${model} batch ${batch}: wall ${wall.toFixed(0)} ms/step (incl. visualize set-up / steps), kernel time ${(total / steps).toFixed(0)} ms/step, ${prof.kernels.length / steps} kernels/step`);
  show('by kernel', byKernel);
  show('by kernel and input shapes', byShape);
}

main().then(() => process.exit(0), (e) => { console.error(e instanceof Error ? e.stack : e); process.exit(1); });
