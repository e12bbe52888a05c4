import type * as tf from '@tensorflow/tfjs-core';
import type { ModelFile } from './folder';

/** Where a model came from. Every importer produces the same {@link NLModel}. */
export type ModelFormat = 'tfjs-layers' | 'tfjs-graph' | 'keras' | 'onnx' | 'huggingface' | 'timm';

/** One tappable layer (an intermediate tensor) of a model. */
export interface LayerInfo {
  name: string;
  /** Layer class or op type, e.g. `Conv2D`, `DepthwiseConv2D`, `Dense`, `Add`, `Conv`. */
  kind: string;
  /** Output shape with the batch dimension first (null where unknown). Always channels-last. */
  outputShape: (number | null)[];
  /** Size of the last dimension: channels of a conv map, units of a dense layer, hidden dims of a ViT block. */
  channels: number;
  /** True for the pre-softmax logits layer. */
  isLogits?: boolean;
}

/**
 * How an image in [0,1] (NHWC) maps to the model's input: `input = image * scale[c] + offset[c]`.
 * `--input-range lo,hi` is `scale = hi - lo, offset = lo`; a torchvision mean/std is
 * `scale = 1/std, offset = -mean/std`.
 */
export interface Preprocess {
  scale: number[];
  offset: number[];
  /** Human-readable description, e.g. `[0,1] -> [-1,1]`. */
  describe: string;
}

export interface InputInfo {
  /** The batch the model file declares when it is fixed (absent: free); {@link NLModel.tap} takes any batch either way. */
  batch?: number;
  /** Why a fixed batch still takes any batch (e.g. one image at a time). */
  batchNote?: string;
  height: number;
  width: number;
  channels: number;
}

/**
 * The one model interface. Images are NHWC float32 in the model's *input space* (after preprocess);
 * every activation a tap returns is channels-last (an importer of NCHW models transposes for the user).
 */
export interface NLModel {
  format: ModelFormat;
  /** Absolute path of the file the model was loaded from. */
  source: string;
  /** Short name for display (folder or file name). */
  name: string;
  input: InputInfo;
  preprocess: Preprocess;
  layers: LayerInfo[];
  /** Name of the pre-softmax logits layer, or null if none was found. */
  logitsLayer: string | null;
  /** How the logits layer was found, for `describe`. */
  logitsFrom?: string;
  /** Class names for the logits, when a labels file was found. */
  classNames?: string[];
  /** Number of logits (the logits layer's per-image size), computed at load; 0 without a logits layer. */
  classCount: number;
  /** Every file the model was loaded from (model file, weights, configs, labels, sidecar), as read: the model's identity. */
  files: ModelFile[];
  /**
   * Differentiable forward pass returning the activations of the named layers, in order.
   * Must be called inside a gradient scope when gradients are wanted; never disposes `x`.
   */
  tap(names: string[], x: tf.Tensor4D): tf.Tensor[];
  dispose(): void;
}

/** What a format importer hands to the common model builder. */
export interface ImportedGraph {
  format: ModelFormat;
  /** The input mapping the format implies (ONNX from torchvision: ImageNet mean/std), if any. */
  defaultPreprocess?: Preprocess;
  /** Batch first: null where any batch runs at once, 1 for a model exported at batch 1 (see `batchNote`). */
  inputShape: (number | null)[];
  /** How a model with a fixed batch in its input shape runs other batches, for `describe`. */
  batchNote?: string;
  layers: LayerInfo[];
  logitsLayer: string | null;
  /** The layer holding the model's (first) output, where known: its logits when it is [N, classes] and no softmax follows. */
  outputLayer?: string;
  /** Class names the model file itself declares (HF id2label, timm label_names); labels beside it take precedence. */
  classNames?: string[];
  run(x: tf.Tensor4D, names: string[]): tf.Tensor[];
  dispose(): void;
}
