// What a job's step will hold in memory, estimated from the model's layer shapes before anything is allocated,
// so a setting that could never run (a 1024-pixel image for 256 units at once) is refused with the estimate
// instead of a step that never finishes or a heap that aborts.
import type { NLModel } from '../model/types';
import { MAX_STEP_BYTES } from './options';

/** Copies of each optimized image a step keeps: the parameters, Adam's two moments, gradients, the transforms' intermediates. */
const IMAGE_COPIES = 16;
/** Copies of each activation: the forward value kept for the backward pass, its gradient, one temporary. */
const ACTIVATION_COPIES = 3;

/**
 * Bytes (float32) of one optimization step over `batch` images of `side` x `side` pixels: the images with what
 * the parameterization, the optimizer and the transforms keep of them, plus every listed layer's activation at the
 * model's input size (the transforms resize to it). A lower bound for large networks (only listed layers count).
 */
export function stepBytesEstimate(model: NLModel, side: number, batch: number): number {
  const image = side * side * model.input.channels * IMAGE_COPIES;
  let activations = model.input.height * model.input.width * model.input.channels;
  for (const l of model.layers) activations += l.outputShape.slice(1).reduce<number>((a, d) => a * (d ?? 1), 1);
  return 4 * batch * (image + ACTIVATION_COPIES * activations);
}

const gib = (b: number) => `${(b / 2 ** 30).toFixed(b < 10 * 2 ** 30 ? 1 : 0)} GiB`;

/** Throws when a step of `batch` images of `side` pixels would need more than MAX_STEP_BYTES; `lower` says which settings to lower. */
export function checkStepMemory(model: NLModel, side: number, batch: number, what: string, lower: string): void {
  const bytes = stepBytesEstimate(model, side, batch);
  if (bytes > MAX_STEP_BYTES) {
    throw new Error(`${what}: one step would need about ${gib(bytes)} (${batch} image(s) of ${side}x${side} on ${model.name}, estimated from its layer shapes), more than the ${gib(MAX_STEP_BYTES)} a step may use; lower ${lower}`);
  }
}
