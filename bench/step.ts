// One benchmark case: builds the model, runs the product's `visualize` (Fourier image, standard transforms,
// preprocess, tap, objective, Adam) for a warm-up step + N steps and times each step from its onProgress
// callbacks. bench/run.ts runs each case in its own process, so peak RSS is that case's.
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, type BackendName } from '../src/core/backend';
import { parseUnits } from '../src/core/render/objectives';
import { visualize } from '../src/core/render/visualize';
import { loadModel } from '../src/core/model';
import { BENCH_MODELS, buildBenchModel, type BenchModel } from './models';

export interface StepResult {
  model: BenchModel;
  backend: string;
  batch: number;
  steps: number;
  fold: boolean;
  /** Median wall ms per AM step (warm-up step excluded). */
  msPerStep: number;
  msPerImage: number;
  /** Median process CPU ms (user + system, all threads) per step. */
  cpuMsPerStep: number;
  /** Every timed step, ms. */
  stepMs: number[];
  /** process.resourceUsage().maxRSS in MB (the whole process: weights, wasm heap, JS). */
  peakRssMB: number;
  /** numTensors after the last step minus after the first; and after visualize minus before. Both must be 0. */
  tensorGrowthPerRun: number;
  tensorGrowthTotal: number;
  backendInfo: string;
  buildMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** `file`: a model file loaded as a user's (an .onnx export of the same architecture, a TF.js model folder) instead of the Keras builder. */
export async function runCase(model: BenchModel, backend: BackendName, batch: number, steps: number, fold = true, file?: string): Promise<StepResult> {
  const info = await initBackend(backend);
  const t0 = performance.now();
  const m = file ? await loadModel(file) : buildBenchModel(model, { foldBatchNorm: fold });
  const buildMs = performance.now() - t0;
  try {
    const units = parseUnits(m, [`logit:0-${batch - 1}`]);
    const times: number[] = [];
    const cpu: number[] = [];
    const counts: number[] = [];
    const before = tf.memory().numTensors;
    let last = performance.now();
    let lastCpu = process.cpuUsage();
    await visualize(m, units, {
      steps: steps + 1,
      batch,
      param: 'fourier',
      transforms: 'standard',
      onProgress: () => {
        const now = performance.now();
        times.push(now - last);
        last = now;
        const c = process.cpuUsage(lastCpu);
        cpu.push((c.user + c.system) / 1000);
        lastCpu = process.cpuUsage();
        counts.push(tf.memory().numTensors);
      },
    });
    const after = tf.memory().numTensors;
    const timed = times.slice(1); // the first includes set-up and the first (kernel-compiling) step
    const ms = median(timed);
    return {
      model, backend: info.native ? `${info.name}+onednn` : info.name, batch, steps, fold, msPerStep: ms, msPerImage: ms / batch, cpuMsPerStep: median(cpu.slice(1)), stepMs: timed.map((t) => Math.round(t * 10) / 10),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      tensorGrowthPerRun: counts[counts.length - 1] - counts[0],
      tensorGrowthTotal: after - before,
      backendInfo: info.reason,
      buildMs,
    };
  } finally {
    m.dispose();
  }
}

