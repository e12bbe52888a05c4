/**
 * The affine sampler on wasm: the gather path (`sampleAffineGather`) against the project's kernels
 * (`affineSample`, what `sampleAffine` runs on wasm and cpu), forward and forward+gradient, at
 * 224x224x3 to 224x224x3, batch 1 and 8, with maps drawn from Lucid's standard transforms (pad,
 * jitter, scale, rotate). The two variants alternate within each repeat (the machine
 * is shared), and the medians are reported, with the max differences between the two.
 *
 *   npx tsx bench/sampler.bench.ts [repeats=7]
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/core/backend';
import { Rng } from '../src/core/render/rng';
import { affineSample } from '../src/core/render/sampler';
import { Affine, FILL_VALUE, planTransforms, sampleAffineGather, STANDARD_TRANSFORMS } from '../src/core/render/transforms';

type Sampler = (img: tf.Tensor4D, affines: readonly Affine[], out: readonly [number, number]) => tf.Tensor4D;

const VARIANTS: [string, Sampler][] = [
  ['gather', sampleAffineGather],
  ['kernel', (img, affines, out) => affineSample(img, affines, out, FILL_VALUE)],
];

const OUT: [number, number] = [224, 224];
const IN: [number, number] = [224, 224];

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** ms of one call of `f` (which returns tensors), reading one value back so the work is done. */
function time(f: () => tf.Tensor): number {
  const t0 = performance.now();
  tf.tidy(() => {
    f().dataSync();
  });
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const repeats = Number(process.argv[2] ?? 7);
  const info = await initBackend('wasm');
  console.log(`backend: ${info.reason}; repeats ${repeats}; image ${IN[0]}x${IN[1]}x3 -> ${OUT[0]}x${OUT[1]}x3, standard transforms`);
  console.log('| batch | pass | gather ms | kernel ms | speed-up | max abs diff |');
  console.log('|---|---|---|---|---|---|');
  for (const batch of [1, 8]) {
    const shape: [number, number, number, number] = [batch, IN[0], IN[1], 3];
    const img = tf.randomUniform(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
    const r = tf.randomNormal([batch, OUT[0], OUT[1], 3], 0, 1, 'float32', 2);
    const affines = planTransforms(STANDARD_TRANSFORMS, new Rng(3), batch, IN, OUT).map((p) => p.affine);
    const passes: [string, (s: Sampler) => tf.Tensor][] = [
      ['forward', (s) => s(img, affines, OUT)],
      ['forward+grad', (s) => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(s(x as tf.Tensor4D, affines, OUT), r)))(img)],
    ];
    for (const [pass, run] of passes) {
      const results = VARIANTS.map(([, s]) => tf.tidy(() => run(s).dataSync()));
      const diff = maxAbsDiff(results[0], results[1]);
      for (const [, s] of VARIANTS) time(() => run(s)); // warm-up
      const ms: number[][] = VARIANTS.map(() => []);
      const before = tf.memory().numTensors;
      for (let i = 0; i < repeats; i++) VARIANTS.forEach(([, s], v) => ms[v].push(time(() => run(s))));
      if (tf.memory().numTensors !== before) throw new Error(`tensors leaked: ${before} -> ${tf.memory().numTensors}`);
      const [g, k] = ms.map(median);
      console.log(`| ${batch} | ${pass} | ${g.toFixed(1)} | ${k.toFixed(1)} | ${(g / k).toFixed(1)}x | ${diff.toExponential(2)} |`);
    }
    tf.dispose([img, r]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
