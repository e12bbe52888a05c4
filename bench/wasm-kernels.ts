/**
 * Times the supplied wasm gradient kernels against the stock ones (or the cpu backend where wasm has
 * none) on model-sized shapes. Prints CPU ms per call (median of N) and the ratio in the same run.
 * Run: npx tsx bench/wasm-kernels.ts
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/core/backend';
import { stockConv2DBackpropInputKernel, stockMaxPoolGradKernel } from '../src/core/backend/wasm_kernels';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * CPU ms per call of `fn` (which returns a TensorInfo the caller frees), median over `reps`. CPU time,
 * not wall time: wasm runs on one thread here, and CPU time does not count waiting for a core on a
 * shared machine.
 */
function time(fn: () => tf.TensorInfo, reps: number): number {
  const b = tf.backend() as BackendWasm;
  b.disposeData(fn().dataId); // warm-up
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.cpuUsage();
    const out = fn(); // wasm kernels are synchronous
    const used = process.cpuUsage(t0);
    ts.push((used.user + used.system) / 1000);
    b.disposeData(out.dataId);
  }
  return median(ts);
}

async function main(): Promise<void> {
  const info = await initBackend('wasm');
  console.log(info.reason);
  const b = tf.backend() as BackendWasm;
  const stock = stockConv2DBackpropInputKernel()!;
  const mine = tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc;
  console.log('\nConv2DBackpropInput (ms): stock wasm | ours (XNNPACK forward conv) | ratio');
  const convCases: Array<[string, [number, number, number, number], [number, number, number, number], number]> = [
    ['3x3 56x56x64->64 s1', [1, 56, 56, 64], [3, 3, 64, 64], 1],
    ['1x1 56x56x64->128 s1', [1, 56, 56, 64], [1, 1, 64, 128], 1],
    ['1x1 112x112x32->64 s1', [1, 112, 112, 32], [1, 1, 32, 64], 1],
    ['3x3 56x56x64->128 s2', [1, 56, 56, 64], [3, 3, 64, 128], 2],
    ['3x3 28x28x128->128 s1', [1, 28, 28, 128], [3, 3, 128, 128], 1],
    ['3x3 224x224x3->32 s2', [1, 224, 224, 3], [3, 3, 3, 32], 2],
    ['3x3 112x112x8->16 s2', [1, 112, 112, 8], [3, 3, 8, 16], 2],
    ['1x1 56x56x256->512 s2', [1, 56, 56, 256], [1, 1, 256, 512], 2],
  ];
  for (const [name, x, f, s] of convCases) {
    const ci = tf.backend_util.computeConv2DInfo(x, f, s, 1, 'same');
    const dy = tf.randomNormal(ci.outShape);
    const w = tf.randomNormal(f);
    const attrs = { strides: s, pad: 'same', dataFormat: 'NHWC', inputShape: x } as unknown as tf.NamedAttrMap;
    const reps = 5;
    const tStock = time(() => stock({ inputs: { dy, filter: w }, backend: b, attrs }) as tf.TensorInfo, reps);
    const tMine = time(() => mine({ inputs: { dy, filter: w }, backend: b, attrs }) as tf.TensorInfo, reps);
    console.log(`${name.padEnd(24)} ${tStock.toFixed(1).padStart(8)} | ${tMine.toFixed(1).padStart(8)} | ${(tStock / tMine).toFixed(2)}x`);
    tf.dispose([dy, w]);
  }

  console.log('\nMaxPoolGrad 3x3 s2 same on 112x112x64 (ms): stock (wrong) | ours (fixed)');
  {
    const x = tf.randomNormal([1, 112, 112, 64]);
    const y = tf.maxPool(x as tf.Tensor4D, 3, 2, 'same');
    const dy = tf.randomNormal(y.shape);
    const attrs = { filterSize: 3, strides: 2, pad: 'same' } as unknown as tf.NamedAttrMap;
    const st = stockMaxPoolGradKernel()!;
    const my = tf.getKernel('MaxPoolGrad', 'wasm')!.kernelFunc;
    const inputs = { dy, input: x, output: y };
    console.log(`${time(() => st({ inputs, backend: b, attrs }) as tf.TensorInfo, 5).toFixed(1)} | ${time(() => my({ inputs, backend: b, attrs }) as tf.TensorInfo, 5).toFixed(1)}`);
    tf.dispose([x, y, dy]);
  }

  console.log('\nKernels wasm lacks (ms, ours on wasm):');
  const runK = (name: string, inputs: tf.NamedTensorMap, attrs: tf.NamedAttrMap): number =>
    time(() => tf.getKernel(name, 'wasm')!.kernelFunc({ inputs, backend: b, attrs }) as tf.TensorInfo, 5);
  {
    const ci = tf.backend_util.computeConv2DInfo([1, 112, 112, 32], [3, 3, 32, 1], 1, 1, 'same', undefined, true);
    const dy = tf.randomNormal(ci.outShape);
    const w = tf.randomNormal([3, 3, 32, 1]);
    const x = tf.randomNormal([1, 112, 112, 32]);
    console.log(`DepthwiseConv2dNativeBackpropInput 3x3 112x112x32 s1: ${runK('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { strides: 1, dilations: 1, pad: 'same', inputShape: [1, 112, 112, 32] } as unknown as tf.NamedAttrMap).toFixed(1)}`);
    console.log(`DepthwiseConv2dNativeBackpropFilter 3x3 112x112x32 s1: ${runK('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, dilations: 1, pad: 'same', filterShape: [3, 3, 32, 1] } as unknown as tf.NamedAttrMap).toFixed(1)}`);
    tf.dispose([dy, w, x]);
  }
  {
    const x = tf.randomNormal([1, 112, 112, 32]);
    const dy = tf.randomNormal([1, 112, 112, 64]);
    console.log(`Conv2DBackpropFilter 1x1 112x112x32->64: ${runK('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [1, 1, 32, 64] } as unknown as tf.NamedAttrMap).toFixed(1)}`);
    const x2 = tf.randomNormal([1, 56, 56, 64]);
    const dy2 = tf.randomNormal([1, 56, 56, 64]);
    console.log(`Conv2DBackpropFilter 3x3 56x56x64->64: ${runK('Conv2DBackpropFilter', { x: x2, dy: dy2 }, { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 64, 64] } as unknown as tf.NamedAttrMap).toFixed(1)}`);
    tf.dispose([x, dy, x2, dy2]);
  }
  {
    const n = 224 * 224 * 4;
    const x = tf.randomNormal([n, 3]);
    const ids = tf.randomUniform([n], 0, 224 * 224, 'int32');
    console.log(`UnsortedSegmentSum ${n} rows x 3 into ${224 * 224} segments: ${runK('UnsortedSegmentSum', { x, segmentIds: ids }, { numSegments: 224 * 224 }).toFixed(1)}`);
    tf.dispose([x, ids]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
