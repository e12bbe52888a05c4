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
import { getKernel, NamedAttrMap, registerGradient, TensorInfo } from '@tensorflow/tfjs-core';
import { type Planner, registerLoopKernel } from './loopkernel';

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

function parts(kernel: string, inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap): Parts {
  const { x, dy, gamma, beta } = inputs;
  if (!x) throw new Error(`${kernel}: missing input x`);
  const cols = x.shape[x.shape.length - 1];
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t && tf.util.sizeFromShape(t.shape) !== cols) throw new Error(`${kernel}: ${name} has ${tf.util.sizeFromShape(t.shape)} values for ${cols} features`);
  }
  if (dy && !tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${kernel}: dy ${dy.shape} and x ${x.shape} differ in shape`);
  return { x, dy, gamma, beta, cols, eps: (attrs as unknown as { eps: number }).eps };
}

/** The forward (grad false) or the input gradient, as a loop kernel; gamma and beta are optional inputs. */
function planner(kernel: string, grad: boolean): Planner {
  return (inputs, attrs) => {
    const p = parts(kernel, inputs, attrs);
    if (grad && !p.dy) throw new Error(`${kernel}: missing input dy`);
    const ins = [p.x, ...(grad ? [p.dy!] : []), ...(p.gamma ? [p.gamma] : []), ...(p.beta && !grad ? [p.beta] : [])];
    return {
      inputs: ins,
      shape: p.x.shape,
      run: (vs, out, native) => {
        const [x, dy] = [vs[0], grad ? vs[1] : null];
        let i = grad ? 2 : 1;
        const gamma = p.gamma ? vs[i++] : null;
        const beta = p.beta && !grad ? vs[i++] : null;
        if (!native) rows(x, gamma, beta, dy, out, p.cols, p.eps);
        else if (grad) native.layerNormGrad(dy!, x, gamma, out, p.cols, p.eps);
        else native.layerNorm(x, gamma, beta, out, p.cols, p.eps);
      },
    };
  };
}

registerLoopKernel(LAYER_NORM, planner(LAYER_NORM, false));
registerLoopKernel(LAYER_NORM_GRAD, planner(LAYER_NORM_GRAD, true));

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
