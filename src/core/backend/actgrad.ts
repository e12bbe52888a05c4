/**
 * Activation gradients from the activation's output, each one op:
 * - `NeuronLensActGrad`: relu or relu6: dy where y is on the activation's slope (relu: y > 0; relu6:
 *   0 < y < 6), else 0. TF.js's own Relu6 gradient takes four ops (LessEqual, Step, Cast, Multiply); fused
 *   convolutions (src/core/model/convgrad.ts) run their activation inside the convolution and need only this.
 * - `NeuronLensSoftmaxGrad`: softmax over the last axis: y * (dy - sum(dy * y)). TF.js's takes five
 *   (two broadcast multiplies among them, slow on wasm); this module registers it as Softmax's gradient.
 *
 * Kernels: wasm (loops in the oneDNN addon when it is on, else JavaScript over the heap, no copies) and cpu.
 * Other backends compose them from their own ops.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, KernelFunc, registerGradient, registerKernel, Softmax, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeLoops } from './onednn';

export const ACT_GRAD = 'NeuronLensActGrad';
export const SOFTMAX_GRAD = 'NeuronLensSoftmaxGrad';
export type SlopeActivation = 'relu' | 'relu6';
const ACT_CODE: Record<SlopeActivation, number> = { relu: 1, relu6: 2 };

function maskLoop(dy: ArrayLike<number>, y: ArrayLike<number>, out: Float32Array, act: number): void {
  const hi = act === 2 ? 6 : Infinity;
  for (let i = 0; i < out.length; i++) {
    const v = y[i];
    out[i] = v > 0 && v < hi ? dy[i] : 0;
  }
}

function parts(inputs: Record<string, TensorInfo | undefined>, attrs: unknown): { dy: TensorInfo; y: TensorInfo; act: number } {
  const { dy, y } = inputs as { dy: TensorInfo; y: TensorInfo };
  const act = ACT_CODE[(attrs as { act: SlopeActivation }).act];
  if (act === undefined) throw new Error(`${ACT_GRAD}: unknown activation ${String((attrs as { act: unknown }).act)}`);
  if (!tf.util.arraysEqual(dy.shape, y.shape)) throw new Error(`${ACT_GRAD}: dy ${dy.shape} and y ${y.shape} differ in shape`);
  return { dy, y, act };
}

const wasmKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as BackendWasm;
  const { dy, y, act } = parts(inputs, attrs);
  const out = b.makeOutput(dy.shape, 'float32');
  const views = [dy, y, out].map((t) => b.typedArrayFromHeap(t) as Float32Array); // after the allocation
  const native = nativeLoops();
  if (native) native.actGrad(views[0], views[1], views[2], act);
  else maskLoop(views[0], views[1], views[2], act);
  return out;
};

const cpuKernel: KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as MathBackendCPU;
  const { dy, y, act } = parts(inputs, attrs);
  const out = new Float32Array(tf.util.sizeFromShape(dy.shape));
  maskLoop(b.data.get(dy.dataId).values as Float32Array, b.data.get(y.dataId).values as Float32Array, out, act);
  return b.makeTensorInfo(dy.shape, 'float32', out);
};

function softmaxGradLoop(dy: ArrayLike<number>, y: ArrayLike<number>, out: Float32Array, cols: number): void {
  for (let r = 0; r < out.length; r += cols) {
    let dot = 0;
    for (let j = r; j < r + cols; j++) dot += dy[j] * y[j];
    for (let j = r; j < r + cols; j++) out[j] = y[j] * (dy[j] - dot);
  }
}

function softmaxParts(inputs: Record<string, TensorInfo | undefined>): { dy: TensorInfo; y: TensorInfo; cols: number } {
  const { dy, y } = inputs as { dy: TensorInfo; y: TensorInfo };
  if (!tf.util.arraysEqual(dy.shape, y.shape)) throw new Error(`${SOFTMAX_GRAD}: dy ${dy.shape} and y ${y.shape} differ in shape`);
  return { dy, y, cols: y.shape[y.shape.length - 1] };
}

const wasmSoftmaxGrad: KernelFunc = ({ inputs, backend }) => {
  const b = backend as BackendWasm;
  const { dy, y, cols } = softmaxParts(inputs);
  const out = b.makeOutput(dy.shape, 'float32');
  const views = [dy, y, out].map((t) => b.typedArrayFromHeap(t) as Float32Array);
  const native = nativeLoops();
  if (native) native.softmaxGrad(views[0], views[1], views[2], cols);
  else softmaxGradLoop(views[0], views[1], views[2], cols);
  return out;
};

const cpuSoftmaxGrad: KernelFunc = ({ inputs, backend }) => {
  const b = backend as MathBackendCPU;
  const { dy, y, cols } = softmaxParts(inputs);
  const out = new Float32Array(tf.util.sizeFromShape(dy.shape));
  softmaxGradLoop(b.data.get(dy.dataId).values as Float32Array, b.data.get(y.dataId).values as Float32Array, out, cols);
  return b.makeTensorInfo(dy.shape, 'float32', out);
};

registerKernel({ kernelName: ACT_GRAD, backendName: 'wasm', kernelFunc: wasmKernel });
registerKernel({ kernelName: ACT_GRAD, backendName: 'cpu', kernelFunc: cpuKernel });
registerKernel({ kernelName: SOFTMAX_GRAD, backendName: 'wasm', kernelFunc: wasmSoftmaxGrad });
registerKernel({ kernelName: SOFTMAX_GRAD, backendName: 'cpu', kernelFunc: cpuSoftmaxGrad });

/** The input gradient of a softmax over `dim` with output `y`. Not differentiable itself. */
export function softmaxGrad(dy: tf.Tensor, y: tf.Tensor, dim: number): tf.Tensor {
  const last = dim === -1 || dim === y.rank - 1;
  if (last && getKernel(SOFTMAX_GRAD, tf.getBackend())) return tf.engine().runKernel(SOFTMAX_GRAD, { dy, y }) as tf.Tensor;
  return tf.tidy(() => {
    const dyTimesY = tf.mul(dy, y);
    return tf.sub(dyTimesY, tf.mul(tf.sum(dyTimesY, [dim], true), y));
  });
}

// Softmax's gradient (TF.js's own, as one op where the backend has it).
registerGradient({
  kernelName: Softmax,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [y] = saved;
    const { dim } = attrs as unknown as { dim: number };
    return { logits: () => softmaxGrad(dy as tf.Tensor, y, dim) };
  },
});

/** dy masked by where the activation `act` with output `y` has slope 1. Not differentiable itself. */
export function actGrad(dy: tf.Tensor, y: tf.Tensor, act: SlopeActivation): tf.Tensor {
  if (getKernel(ACT_GRAD, tf.getBackend())) {
    return tf.engine().runKernel(ACT_GRAD, { dy, y }, { act } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  return tf.tidy(() => {
    const on = act === 'relu' ? tf.step(y) : tf.mul(tf.step(y), tf.step(tf.sub(6, y)));
    return tf.mul(dy, on);
  });
}
