/**
 * Activation gradients from the activation's output, each one op:
 * - `NeuronLensActGrad`: relu or relu6: dy where y is on the activation's slope (relu: y > 0; relu6:
 *   0 < y < 6), else 0. TF.js's own Relu6 gradient takes four ops (LessEqual, Step, Cast, Multiply); fused
 *   convolutions (src/core/model/layers/conv.ts) run their activation inside the convolution and need only this.
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
import { getKernel, registerGradient, Softmax, TensorInfo } from '@tensorflow/tfjs-core';
import { registerLoopKernel } from './loopkernel';

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

/** dy and y of one shape (the gradient kernels' inputs). */
function sameShape(kernel: string, inputs: Record<string, TensorInfo | undefined>, a: string, b: string): TensorInfo[] {
  const [ta, tb] = [inputs[a], inputs[b]];
  if (!ta || !tb) throw new Error(`${kernel}: missing input ${ta ? b : a}`);
  if (!tf.util.arraysEqual(ta.shape, tb.shape)) throw new Error(`${kernel}: ${a} ${ta.shape} and ${b} ${tb.shape} differ in shape`);
  return [ta, tb];
}

registerLoopKernel(ACT_GRAD, (inputs, attrs) => {
  const act = ACT_CODE[(attrs as unknown as { act: SlopeActivation }).act];
  if (act === undefined) throw new Error(`${ACT_GRAD}: unknown activation ${String((attrs as unknown as { act: unknown }).act)}`);
  const ts = sameShape(ACT_GRAD, inputs, 'dy', 'y');
  return {
    inputs: ts,
    shape: ts[0].shape,
    run: ([dy, y], out, native) => (native ? native.actGrad(dy, y, out, act) : maskLoop(dy, y, out, act)),
  };
});

function softmaxGradLoop(dy: ArrayLike<number>, y: ArrayLike<number>, out: Float32Array, cols: number): void {
  for (let r = 0; r < out.length; r += cols) {
    let dot = 0;
    for (let j = r; j < r + cols; j++) dot += dy[j] * y[j];
    for (let j = r; j < r + cols; j++) out[j] = y[j] * (dy[j] - dot);
  }
}

registerLoopKernel(SOFTMAX_GRAD, (inputs) => {
  const ts = sameShape(SOFTMAX_GRAD, inputs, 'dy', 'y');
  const cols = ts[1].shape[ts[1].shape.length - 1];
  return {
    inputs: ts,
    shape: ts[0].shape,
    run: ([dy, y], out, native) => (native ? native.softmaxGrad(dy, y, out, cols) : softmaxGradLoop(dy, y, out, cols)),
  };
});

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

registerLoopKernel(GELU, (inputs) => {
  const { x } = inputs;
  if (!x) throw new Error(`${GELU}: missing input x`);
  return { inputs: [x], shape: x.shape, run: ([v], out, native) => (native ? native.gelu(v, out) : geluLoop(v, out)) };
});

registerLoopKernel(GELU_GRAD, (inputs) => {
  const ts = sameShape(GELU_GRAD, inputs, 'dy', 'x');
  return {
    inputs: ts,
    shape: ts[0].shape,
    run: ([dy, x], out, native) => (native ? native.geluGrad(dy, x, out) : geluGradLoop(dy, x, out)),
  };
});

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
