/**
 * Layer normalization over the last axis as one op, `NeuronLensLayerNorm` (x, gamma?, beta?; attr eps), with its
 * input gradient `NeuronLensLayerNormGrad` (dy, x, gamma?) as one op too: TF.js's composition takes nine ops
 * forward (two broadcast multiplies among them, slow on wasm) and more backward; ViT-B/16 runs 25 of them per image.
 * The gradient recomputes the row statistics from x. No gradient flows to gamma or beta (constants here).
 *
 * Kernels: wasm (loops in the oneDNN addon when it is on, else JavaScript over the heap, no copies) and cpu.
 * Other backends run the composition ({@link layerNorm} picks).
 */
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, KernelFunc, registerGradient, registerKernel, TensorInfo } from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { nativeLoops } from './onednn';

export const LAYER_NORM = 'NeuronLensLayerNorm';
export const LAYER_NORM_GRAD = 'NeuronLensLayerNormGrad';

type Vals = ArrayLike<number>;

/** y (or, with dy, dx) for every row of length `cols`; the statistics in float64. */
function rows(x: Vals, gamma: Vals | null, beta: Vals | null, dy: Vals | null, out: Float32Array, cols: number, eps: number): void {
  for (let r = 0; r < out.length; r += cols) {
    let mean = 0;
    for (let j = r; j < r + cols; j++) mean += x[j];
    mean /= cols;
    let v = 0;
    for (let j = r; j < r + cols; j++) v += (x[j] - mean) * (x[j] - mean);
    const rstd = 1 / Math.sqrt(v / cols + eps);
    if (!dy) {
      for (let j = 0; j < cols; j++) out[r + j] = (x[r + j] - mean) * rstd * (gamma ? gamma[j] : 1) + (beta ? beta[j] : 0);
      continue;
    }
    let mg = 0;
    let mgx = 0;
    for (let j = 0; j < cols; j++) {
      const g = dy[r + j] * (gamma ? gamma[j] : 1);
      mg += g;
      mgx += g * (x[r + j] - mean) * rstd;
    }
    mg /= cols;
    mgx /= cols;
    for (let j = 0; j < cols; j++) {
      const g = dy[r + j] * (gamma ? gamma[j] : 1);
      out[r + j] = rstd * (g - mg - (x[r + j] - mean) * rstd * mgx);
    }
  }
}

interface Parts { x: TensorInfo; dy?: TensorInfo; gamma?: TensorInfo; beta?: TensorInfo; cols: number; eps: number }

function parts(kernel: string, inputs: Record<string, TensorInfo | undefined>, attrs: unknown): Parts {
  const { x, dy, gamma, beta } = inputs;
  if (!x) throw new Error(`${kernel}: missing input x`);
  const cols = x.shape[x.shape.length - 1];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t && tf.util.sizeFromShape(t.shape) !== cols) throw new Error(`${kernel}: ${name} has ${tf.util.sizeFromShape(t.shape)} values for ${cols} features`);
  }
  if (dy && !tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${kernel}: dy ${dy.shape} and x ${x.shape} differ in shape`);
  return { x, dy, gamma, beta, cols, eps: (attrs as { eps: number }).eps };
}

function wasmKernel(kernel: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as BackendWasm;
    const p = parts(kernel, inputs, attrs);
    const out = b.makeOutput(p.x.shape, 'float32');
    const v = (t?: TensorInfo) => (t ? (b.typedArrayFromHeap(t) as Float32Array) : null); // after the allocation
    const native = nativeLoops();
    if (p.dy) {
      if (native) native.layerNormGrad(v(p.dy)!, v(p.x)!, v(p.gamma), v(out)!, p.cols, p.eps);
      else rows(v(p.x)!, v(p.gamma), null, v(p.dy), v(out)!, p.cols, p.eps);
    } else if (native) native.layerNorm(v(p.x)!, v(p.gamma), v(p.beta), v(out)!, p.cols, p.eps);
    else rows(v(p.x)!, v(p.gamma), v(p.beta), null, v(out)!, p.cols, p.eps);
    return out;
  };
}

function cpuKernel(kernel: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const b = backend as MathBackendCPU;
    const p = parts(kernel, inputs, attrs);
    const v = (t?: TensorInfo) => (t ? (b.data.get(t.dataId).values as Float32Array) : null);
    const out = new Float32Array(tf.util.sizeFromShape(p.x.shape));
    rows(v(p.x)!, v(p.gamma), v(p.beta), v(p.dy), out, p.cols, p.eps);
    return b.makeTensorInfo(p.x.shape, 'float32', out);
  };
}

for (const name of [LAYER_NORM, LAYER_NORM_GRAD]) {
  registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: wasmKernel(name) });
  registerKernel({ kernelName: name, backendName: 'cpu', kernelFunc: cpuKernel(name) });
}

registerGradient({
  kernelName: LAYER_NORM,
  inputsToSave: ['x', 'gamma'],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma] = saved;
    return { x: () => tf.engine().runKernel(LAYER_NORM_GRAD, { dy: dy as tf.Tensor, x, gamma }, attrs) as tf.Tensor };
  },
});

/** Layer normalization of x over its last axis, then * gamma + beta (each optional). */
export function layerNorm(x: tf.Tensor, eps: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  if (getKernel(LAYER_NORM, tf.getBackend())) {
    // The gradient saves gamma by name, so there always is one.
    const inputs: tf.NamedTensorMap = { x, gamma: gamma ?? tf.ones([x.shape[x.rank - 1]]) };
    if (beta) inputs.beta = beta;
    return tf.engine().runKernel(LAYER_NORM, inputs, { eps } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  let y = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  if (gamma) y = tf.mul(y, gamma);
  if (beta) y = tf.add(y, beta);
  return y;
}
