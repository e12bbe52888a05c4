/**
 * Activation gradients from the activation's output, each one op:
 * - `NeuronLensActGrad`: relu or relu6: dy where y is on the activation's slope (relu: y > 0; relu6:
 *   0 < y < 6), else 0. TF.js's own Relu6 gradient takes four ops (LessEqual, Step, Cast, Multiply); fused
 *   convolutions (src/core/model/convgrad.ts) run their activation inside the convolution and need only this.
 * - `NeuronLensSoftmaxGrad`: softmax over the last axis: y * (dy - sum(dy * y)). TF.js's takes five
 *   (two broadcast multiplies among them, slow on wasm); this module registers it as Softmax's gradient.
 * - `NeuronLensGelu` (exact GELU, x * Phi(x)) and its gradient `NeuronLensGeluGrad` (dy * (Phi(x) + x phi(x))):
 *   one op each way and one saved tensor (x), where TF.js's erf composition runs six ops and keeps five
 *   [tokens, 4 * dim] tensors per ViT block for the gradient (ViT-B/16 at batch 8 ran out of the 4 GB wasm heap).
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

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), the formula TF.js's own Erf kernels use. */
function erf(v: number): number {
  const s = v < 0 ? -1 : 1;
  const x = Math.abs(v);
  const t = 1 / (1 + 0.3275911 * x);
  return s * (1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x));
}

function geluLoop(x: ArrayLike<number>, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) out[i] = 0.5 * x[i] * (1 + erf(x[i] * Math.SQRT1_2));
}

function geluGradLoop(dy: ArrayLike<number>, x: ArrayLike<number>, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) {
    const v = x[i];
    out[i] = dy[i] * (0.5 * (1 + erf(v * Math.SQRT1_2)) + v * 0.3989422804014327 * Math.exp(-0.5 * v * v));
  }
}

export const GELU = 'NeuronLensGelu';
export const GELU_GRAD = 'NeuronLensGeluGrad';

function geluKernels(grad: boolean): { wasm: KernelFunc; cpu: KernelFunc } {
  const name = grad ? GELU_GRAD : GELU;
  const check = (inputs: Record<string, TensorInfo | undefined>): TensorInfo[] => {
    const ts = grad ? [inputs.dy, inputs.x] : [inputs.x];
    if (ts.some((t) => !t)) throw new Error(`${name}: missing input`);
    if (grad && !tf.util.arraysEqual(ts[0]!.shape, ts[1]!.shape)) throw new Error(`${name}: dy and x differ in shape`);
    return ts as TensorInfo[];
  };
  return {
    wasm: ({ inputs, backend }) => {
      const b = backend as BackendWasm;
      const ts = check(inputs);
      const out = b.makeOutput(ts[0].shape, 'float32');
      const views = [...ts, out].map((t) => b.typedArrayFromHeap(t) as Float32Array); // after the allocation
      const vo = views[views.length - 1];
      const native = nativeLoops();
      if (grad) {
        if (native) native.geluGrad(views[0], views[1], vo);
        else geluGradLoop(views[0], views[1], vo);
      } else if (native) native.gelu(views[0], vo);
      else geluLoop(views[0], vo);
      return out;
    },
    cpu: ({ inputs, backend }) => {
      const b = backend as MathBackendCPU;
      const ts = check(inputs);
      const vals = ts.map((t) => b.data.get(t.dataId).values as Float32Array);
      const out = new Float32Array(tf.util.sizeFromShape(ts[0].shape));
      if (grad) geluGradLoop(vals[0], vals[1], out);
      else geluLoop(vals[0], out);
      return b.makeTensorInfo(ts[0].shape, 'float32', out);
    },
  };
}

for (const grad of [false, true]) {
  const k = geluKernels(grad);
  registerKernel({ kernelName: grad ? GELU_GRAD : GELU, backendName: 'wasm', kernelFunc: k.wasm });
  registerKernel({ kernelName: grad ? GELU_GRAD : GELU, backendName: 'cpu', kernelFunc: k.cpu });
}

registerGradient({
  kernelName: GELU,
  inputsToSave: ['x'],
  gradFunc: (dy, saved) => ({ x: () => tf.engine().runKernel(GELU_GRAD, { dy: dy as tf.Tensor, x: saved[0] }) as tf.Tensor }),
});

/** Exact GELU, x * Phi(x): one op where the backend has the kernel, else TF.js's erf composition. */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (getKernel(GELU, tf.getBackend())) return tf.engine().runKernel(GELU, { x }) as tf.Tensor;
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
}

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
