// Convolution layers as one fused kernel (convolution + bias + relu/relu6) with a gradient to the input only.
//
// Forward: the backend's FusedConv2D / FusedDepthwiseConv2D kernel, run directly (tf.fused.* falls back to unfused
// ops whenever a gradient is recorded). On wasm with the oneDNN addon the bias and activation run inside the
// convolution (src/core/backend/onednn.ts). TF.js registers no gradient for these kernels (tf.fused.* wraps them in
// customGrad, which copies what it saves); this module registers one: the activation's mask (one op,
// src/core/backend/actgrad.ts) then the convolution's input gradient. Filter and bias get none: the engine needs
// input gradients only, and asking for theirs is TF.js's "Cannot backprop through input" error.
//
// The input gradient of a stride-1 convolution is the convolution of the output gradient, padded by k - 1 minus
// the forward padding on each side, with the flipped (and, for conv2d, in/out-transposed) filter. For those
// convolutions the flipped filter is made once, when the layer is built (eagerly, so the model's tensor count does
// not change at its first gradient; one more copy of those filters, shared by every layer built from the same
// kernel tensor), and the gradient is that forward convolution, with explicit padding (no pad op). Forward
// convolutions are the fastest kernels on every CPU path: TF.js wasm caches its XNNPACK operators by filter tensor
// (its gradient kernels re-created the flipped filter, and so the operator, at every step), and oneDNN 2.6's
// input-gradient kernels ran 2-3.5x slower than its forward ones on MobileNet's shapes. Strided convolutions and
// depthwise with a channel multiplier > 1 use the backend's input-gradient kernel. Dilated convolutions keep
// TF.js's unfused ops (and its gradients).
import * as tf from '@tensorflow/tfjs-core';
import { Conv2DBackpropInput, DepthwiseConv2dNativeBackpropInput, FusedConv2D, FusedDepthwiseConv2D, GradConfig, registerGradient } from '@tensorflow/tfjs-core';
import { actGrad } from '../../backend/actgrad';

type Pad = 'same' | 'valid';
/** Activations a convolution runs fused. */
export type ConvActivation = 'linear' | 'relu' | 'relu6';
export const FUSABLE_ACTIVATIONS: ReadonlySet<string> = new Set(['linear', 'relu', 'relu6']);

export interface ConvSpec {
  kernel: tf.Tensor4D;
  bias?: tf.Tensor;
  strides: [number, number];
  pad: Pad | tf.backend_util.ExplicitPadding;
  dilations: [number, number];
  depthwise: boolean;
  activation: ConvActivation;
}

/**
 * Flipped filters already made, by kernel tensor id and kind, so that layers built from one kernel share one
 * copy. The owner of `keep` frees them with the model.
 */
export type FlippedFilters = Map<string, tf.Tensor4D>;

/** The flipped filter of a kernel, by the kernel's data id, for the gradient below to find. */
const flippedOf = new WeakMap<object, tf.Tensor4D>();

/** Whether the flipped-filter gradient applies: stride 1 and, for depthwise, channel multiplier 1. */
function storedApplies(kernelShape: number[], depthwise: boolean, strides: [number, number]): boolean {
  return strides[0] === 1 && strides[1] === 1 && !(depthwise && kernelShape[3] !== 1);
}

function flippedFilter(s: ConvSpec, keep: tf.Tensor[], flipped: FlippedFilters): void {
  const key = `${s.kernel.id}:${s.depthwise ? 'depthwise' : 'conv2d'}`;
  if (flipped.has(key)) return;
  const f = tf.keep(tf.tidy(() => {
    const r = tf.reverse(s.kernel, [0, 1]);
    return s.depthwise ? r : tf.transpose(r, [0, 1, 3, 2]);
  })) as tf.Tensor4D;
  keep.push(f);
  flipped.set(key, f);
  flippedOf.set(s.kernel.dataId, f);
}

function plain(s: ConvSpec): (x: tf.Tensor4D) => tf.Tensor4D {
  return (x) => {
    let y: tf.Tensor4D = s.depthwise
      ? tf.depthwiseConv2d(x, s.kernel, s.strides, s.pad, 'NHWC', s.dilations)
      : tf.conv2d(x, s.kernel, s.strides, s.pad, 'NHWC', s.dilations);
    if (s.bias) y = tf.add(y, s.bias);
    if (s.activation === 'relu') y = tf.relu(y);
    if (s.activation === 'relu6') y = tf.relu6(y);
    return y;
  };
}

/** The layer's function of x (NHWC). New tensors (flipped filters) are pushed on `keep`. */
export function convolution(s: ConvSpec, keep: tf.Tensor[], flipped: FlippedFilters): (x: tf.Tensor4D) => tf.Tensor4D {
  if (s.dilations[0] !== 1 || s.dilations[1] !== 1) return plain(s);
  if (storedApplies(s.kernel.shape, s.depthwise, s.strides)) flippedFilter(s, keep, flipped);
  const attrs = { strides: s.strides, pad: s.pad, dataFormat: 'NHWC', dilations: [1, 1], activation: s.activation } as unknown as tf.NamedAttrMap;
  const name = s.depthwise ? FusedDepthwiseConv2D : FusedConv2D;
  return (x) => {
    const inputs: tf.NamedTensorMap = s.bias ? { x, filter: s.kernel, bias: s.bias } : { x, filter: s.kernel };
    return tf.engine().runKernel(name, inputs, attrs) as tf.Tensor4D;
  };
}

interface FusedAttrs { strides: [number, number] | number; pad: Pad | tf.backend_util.ExplicitPadding; dilations?: [number, number] | number; activation?: string }

function pairOf(v: [number, number] | number | undefined): [number, number] {
  return v === undefined ? [1, 1] : typeof v === 'number' ? [v, v] : v;
}

/** The input gradient of FusedConv2D / FusedDepthwiseConv2D with a linear, relu or relu6 activation. */
function fusedGrad(depthwise: boolean): GradConfig {
  const kernelName = depthwise ? FusedDepthwiseConv2D : FusedConv2D;
  return {
    kernelName,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as FusedAttrs;
      const act = a.activation ?? 'linear';
      if (!FUSABLE_ACTIVATIONS.has(act)) throw new Error(`${kernelName}: no gradient for activation "${act}" (linear, relu and relu6 have one)`);
      const dil = pairOf(a.dilations);
      if (dil[0] !== 1 || dil[1] !== 1) throw new Error(`${kernelName}: no gradient for dilated convolutions`);
      const strides = pairOf(a.strides);
      return {
        x: () => {
          const g = (act === 'linear' ? dy : actGrad(dy as tf.Tensor, y, act as 'relu' | 'relu6')) as tf.Tensor4D;
          const stored = storedApplies(filter.shape, depthwise, strides) ? flippedOf.get(filter.dataId) : undefined;
          if (stored) {
            // dx = g correlated with the flipped filter, padded by (k - 1 - the forward's padding) on each side.
            const [kh, kw] = filter.shape;
            const p = tf.backend_util.computeConv2DInfo(x.shape, filter.shape as [number, number, number, number], 1, 1, a.pad, undefined, depthwise).padInfo;
            const pads: tf.backend_util.ExplicitPadding = [[0, 0], [kh - 1 - p.top, kh - 1 - p.bottom], [kw - 1 - p.left, kw - 1 - p.right], [0, 0]];
            return depthwise ? tf.depthwiseConv2d(g, stored, 1, pads) : tf.conv2d(g, stored, 1, pads);
          }
          const gradAttrs = { strides, pad: a.pad, dataFormat: 'NHWC', dilations: [1, 1], inputShape: x.shape };
          return tf.engine().runKernel(depthwise ? DepthwiseConv2dNativeBackpropInput : Conv2DBackpropInput, { dy: g, filter },
            gradAttrs as unknown as tf.NamedAttrMap) as tf.Tensor4D;
        },
      };
    },
  };
}

registerGradient(fusedGrad(false));
registerGradient(fusedGrad(true));
