/**
 * `NeuronLensChannelAffine`: y = act(x * scale[c] + offset[c]) over the last axis, act linear, relu or relu6 — an
 * inference batch norm that could not be folded into a convolution (ResNet V2's pre-activations), with the relu
 * after it. One op where TF.js takes two or three (broadcast multiplies and adds are slow on wasm). Its input
 * gradient `NeuronLensChannelAffineGrad` (dy, y, scale) is one op too: dy * scale where y is on the activation's
 * slope. No gradient flows to scale or offset (constants here).
 *
 * Kernels: wasm (loops in the oneDNN addon when it is on, else JavaScript over the heap, no copies) and cpu.
 * Other backends run the composition ({@link channelAffine} picks).
 */
import * as tf from '@tensorflow/tfjs-core';
import { getKernel, NamedAttrMap, registerGradient, TensorInfo } from '@tensorflow/tfjs-core';
import { registerLoopKernel } from './loopkernel';

export const CHANNEL_AFFINE = 'NeuronLensChannelAffine';
export const CHANNEL_AFFINE_GRAD = 'NeuronLensChannelAffineGrad';
export type AffineActivation = 'linear' | 'relu' | 'relu6';
const ACT: Record<AffineActivation, number> = { linear: 0, relu: 1, relu6: 2 };

type Vals = ArrayLike<number>;

function forwardLoop(x: Vals, scale: Vals, offset: Vals, out: Float32Array, act: number): void {
  const c = scale.length;
  const hi = act === 2 ? 6 : Infinity;
  for (let i = 0; i < out.length; i++) {
    const v = x[i] * scale[i % c] + offset[i % c];
    out[i] = act === 0 ? v : v < 0 ? 0 : v > hi ? hi : v;
  }
}

function gradLoop(dy: Vals, y: Vals, scale: Vals, out: Float32Array, act: number): void {
  const c = scale.length;
  const hi = act === 2 ? 6 : Infinity;
  for (let i = 0; i < out.length; i++) out[i] = act === 0 || (y[i] > 0 && y[i] < hi) ? dy[i] * scale[i % c] : 0;
}

interface Parts { a: TensorInfo; b: TensorInfo; scale: TensorInfo; act: number }

function parts(kernel: string, inputs: Record<string, TensorInfo | undefined>, attrs: NamedAttrMap, grad: boolean): Parts {
  const a = grad ? inputs.dy : inputs.x;
  const b = grad ? inputs.y : inputs.offset;
  const { scale } = inputs;
  if (!a || !b || !scale) throw new Error(`${kernel}: missing input`);
  const act = ACT[(attrs as unknown as { act: AffineActivation }).act];
  if (act === undefined) throw new Error(`${kernel}: unknown activation ${String((attrs as unknown as { act: unknown }).act)}`);
  const c = a.shape[a.shape.length - 1];
  if (tf.util.sizeFromShape(scale.shape) !== c) throw new Error(`${kernel}: ${tf.util.sizeFromShape(scale.shape)} scales for ${c} channels`);
  if (grad ? !tf.util.arraysEqual(a.shape, b.shape) : tf.util.sizeFromShape(b.shape) !== c) throw new Error(`${kernel}: input sizes do not match`);
  return { a, b, scale, act };
}

for (const [name, grad] of [[CHANNEL_AFFINE, false], [CHANNEL_AFFINE_GRAD, true]] as const) {
  registerLoopKernel(name, (inputs, attrs) => {
    const p = parts(name, inputs, attrs, grad);
    return {
      inputs: [p.a, p.b, p.scale],
      shape: p.a.shape,
      run: ([a, b, s], out, native) => {
        if (grad) {
          if (native) native.channelAffineGrad(a, b, s, out, p.act);
          else gradLoop(a, b, s, out, p.act);
        } else if (native) native.channelAffine(a, s, b, out, p.act);
        else forwardLoop(a, s, b, out, p.act);
      },
    };
  });
}

registerGradient({
  kernelName: CHANNEL_AFFINE,
  inputsToSave: ['scale'],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [scale, y] = saved;
    return { x: () => tf.engine().runKernel(CHANNEL_AFFINE_GRAD, { dy: dy as tf.Tensor, y, scale }, attrs) as tf.Tensor };
  },
});

/** act(x * scale + offset), scale and offset [C] over x's last axis. */
export function channelAffine(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, act: AffineActivation): tf.Tensor {
  if (getKernel(CHANNEL_AFFINE, tf.getBackend())) {
    return tf.engine().runKernel(CHANNEL_AFFINE, { x, scale, offset }, { act } as unknown as tf.NamedAttrMap) as tf.Tensor;
  }
  const y = tf.add(tf.mul(x, scale), offset);
  return act === 'relu' ? tf.relu(y) : act === 'relu6' ? tf.relu6(y) : y;
}
