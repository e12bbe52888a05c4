/**
 * AvgPoolGrad on wasm and cpu, as the adjoint of the forward average pool: each output's dy is spread over the
 * in-bounds inputs of its window divided by their count. TF.js's kernels divide by the full window size, which is
 * wrong at the borders of a 'same' pool (its forward divides by the in-bounds count, as Keras and PyTorch's
 * count_include_pad=False do): Inception's 3x3 'same' average pools lost a third to half of their border gradient.
 * wasm's was also slow (Inception v3: 17% of a step); it runs in the oneDNN addon when that is on.
 */
import { AvgPoolGrad, backend_util, NamedAttrMap, TensorInfo, util } from '@tensorflow/tfjs-core';
import { registerLoopKernel } from './loopkernel';

type Info = backend_util.Conv2DInfo;

function loop(dy: ArrayLike<number>, dx: Float32Array, p: Info): void {
  const { batchSize: n, inHeight: ih, inWidth: iw, inChannels: c, outHeight: oh, outWidth: ow, filterHeight: kh, filterWidth: kw } = p;
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let i = 0; i < oh; i++) {
      const r0 = Math.max(i * p.strideHeight - p.padInfo.top, 0);
      const r1 = Math.min(i * p.strideHeight - p.padInfo.top + kh, ih);
      for (let j = 0; j < ow; j++) {
        const q0 = Math.max(j * p.strideWidth - p.padInfo.left, 0);
        const q1 = Math.min(j * p.strideWidth - p.padInfo.left + kw, iw);
        const count = (r1 - r0) * (q1 - q0);
        if (count <= 0) continue;
        const g = ((b * oh + i) * ow + j) * c;
        for (let r = r0; r < r1; r++) {
          for (let q = q0; q < q1; q++) {
            const d = ((b * ih + r) * iw + q) * c;
            for (let k = 0; k < c; k++) dx[d + k] += dy[g + k] / count;
          }
        }
      }
    }
  }
}

function info(inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap): { dy: TensorInfo; shape: number[]; p: Info } {
  const { dy, input } = inputs;
  if (!dy || !input) throw new Error('AvgPoolGrad: missing dy or input');
  const a = attrs as unknown as { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'same' | 'valid' | number; dimRoundingMode?: 'floor' | 'round' | 'ceil' };
  const p = backend_util.computePool2DInfo(input.shape as [number, number, number, number], a.filterSize, a.strides, 1, a.pad, a.dimRoundingMode);
  if (!util.arraysEqual(p.outShape, dy.shape)) throw new Error(`AvgPoolGrad: dy [${dy.shape}] is not the pool's output shape [${p.outShape}]`);
  return { dy, shape: input.shape, p };
}

// Replaces the backends' own (imported before this module: see ./index.ts).
registerLoopKernel(AvgPoolGrad, (inputs, attrs) => {
  const { dy, shape, p } = info(inputs, attrs);
  return {
    inputs: [dy],
    shape,
    run: ([dyv], dxv, native) => {
      if (!native) return loop(dyv, dxv, p);
      native.avgPoolGrad(dyv, dxv, new Int32Array([p.batchSize, p.inHeight, p.inWidth, p.inChannels, p.outHeight, p.outWidth,
        p.filterHeight, p.filterWidth, p.strideHeight, p.strideWidth, p.padInfo.top, p.padInfo.left]));
    },
  };
});
