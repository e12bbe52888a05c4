// Inference batch-norm folding for the Keras interpreter: a Conv2D / DepthwiseConv2D / SeparableConv2D with no
// activation whose only consumer is a BatchNormalization over the channel axis becomes one convolution with
// kernel*a and bias*a+b (a = gamma/sqrt(var+eps), b = beta-mean*a). The BN output is then exactly the folded
// convolution's output (up to float rounding), one broadcast multiply and one add fewer, forward and backward.
//
// Tapping stays exact: the BN layer is tappable and returns the folded output; the convolution's own (pre-BN)
// output can only come from the unfolded path, so KerasGraph folds a pair only in a run that does not ask for
// the convolution's output (the plan is chosen per set of requested outputs). Both paths are kept: the folded
// kernel is an extra copy of the convolution's weights (memory: +1 kernel per folded pair).
import * as tf from '@tensorflow/tfjs-core';
import type { LayerWeights } from './keras';

export const FOLDABLE_CONVS = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);

interface FoldNode {
  name: string;
  className: string;
  config: Record<string, any>;
  inputs: { layer: string }[];
}

/** Keras activation name of a layer config (Keras 3 serializes it as an object). */
function activationOf(cfg: Record<string, any>): string {
  const a = cfg.activation;
  if (a && typeof a === 'object') return a.config?.name ?? a.class_name ?? 'linear';
  return a ?? 'linear';
}

/**
 * The (conv, bn) pairs that can be folded: the conv is linear, its only consumer is the BN, the BN normalizes
 * the last axis and has one input. Returns BN name -> conv name.
 */
export function findFoldablePairs(nodes: readonly FoldNode[], consumers: Map<string, string[]>): Map<string, string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const pairs = new Map<string, string>();
  for (const bn of nodes) {
    if (bn.className !== 'BatchNormalization' || bn.inputs.length !== 1) continue;
    const axis = Array.isArray(bn.config.axis) ? (bn.config.axis.length === 1 ? bn.config.axis[0] : null) : (bn.config.axis ?? -1);
    if (axis !== -1 && axis !== 3) continue;
    const conv = byName.get(bn.inputs[0].layer);
    if (!conv || !FOLDABLE_CONVS.has(conv.className) || activationOf(conv.config) !== 'linear') continue;
    const users = consumers.get(conv.name) ?? [];
    if (users.length !== 1 || users[0] !== bn.name) continue;
    pairs.set(bn.name, conv.name);
  }
  return pairs;
}

/**
 * The config and weights of the folded convolution (same class, `use_bias: true`). New tensors are pushed on
 * `keep` (the caller owns and frees them). Throws, naming the layers, when a weight is missing or mis-sized.
 */
export function foldedConv(
  conv: { name: string; className: string; config: Record<string, any> }, convW: LayerWeights,
  bn: { name: string; config: Record<string, any> }, bnW: LayerWeights, keep: tf.Tensor[],
): { config: Record<string, any>; weights: LayerWeights } {
  const where = `folding layer "${bn.name}" into "${conv.name}" (${conv.className})`;
  const need = (w: LayerWeights, key: string, layer: string): tf.Tensor => {
    const t = w.get(key);
    if (!t) throw new Error(`${where}: layer "${layer}" has no weight "${key}"`);
    return t;
  };
  const kernelKey = conv.className === 'Conv2D' ? 'kernel' : conv.className === 'DepthwiseConv2D' ? 'depthwise_kernel' : 'pointwise_kernel';
  const kernel = need(convW, kernelKey, conv.name);
  const eps = bn.config.epsilon ?? 1e-3;
  const made = tf.tidy(() => {
    const mean = need(bnW, 'moving_mean', bn.name);
    const variance = need(bnW, 'moving_variance', bn.name);
    const gamma = bn.config.scale === false ? tf.onesLike(mean) : need(bnW, 'gamma', bn.name);
    const beta = bn.config.center === false ? tf.zerosLike(mean) : need(bnW, 'beta', bn.name);
    const a = tf.mul(gamma, tf.rsqrt(tf.add(variance, eps)));
    const b = tf.sub(beta, tf.mul(mean, a));
    const outChannels = conv.className === 'DepthwiseConv2D' ? kernel.shape[2]! * kernel.shape[3]! : kernel.shape[3]!;
    if (a.size !== outChannels) throw new Error(`${where}: ${a.size} batch-norm channels for ${outChannels} convolution output channels`);
    // Depthwise output channel c*mult+m comes from kernel[..., c, m]: a reshaped to [C, mult] lines up.
    const aK = conv.className === 'DepthwiseConv2D' ? tf.reshape(a, [kernel.shape[2]!, kernel.shape[3]!]) : a;
    const k = tf.mul(kernel, aK);
    const oldBias = conv.config.use_bias === false ? undefined : need(convW, 'bias', conv.name);
    const bias = oldBias ? tf.add(tf.mul(oldBias, a), b) : b;
    return { k, bias };
  });
  keep.push(made.k, made.bias);
  const weights: LayerWeights = new Map(convW);
  weights.set(kernelKey, made.k);
  weights.set('bias', made.bias);
  return { config: { ...conv.config, use_bias: true, activation: 'linear' }, weights };
}
