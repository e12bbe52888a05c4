// What every parameterization checks in its options, and how it makes its seeded variables.
import * as tf from '@tensorflow/tfjs-core';
import type { ParamOptions } from './registry';

/** Validates the options common to all parameterizations and fills in the defaults. */
export function checkParamOptions(kind: string, o: ParamOptions): Required<ParamOptions> {
  const where = `createParam(${kind})`;
  for (const k of ['batch', 'height', 'width', 'channels'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`${where}: ${k} must be a positive integer, got ${o[k]}`);
  }
  if (!Number.isFinite(o.seed)) throw new Error(`${where}: seed must be a finite number, got ${o.seed}`);
  const decay = o.decay ?? 1;
  if (!Number.isFinite(decay) || decay < 0) throw new Error(`${where}: decay must be a number >= 0, got ${o.decay}`);
  const sd = o.sd ?? 0.01;
  if (!Number.isFinite(sd) || sd < 0) throw new Error(`${where}: sd must be a number >= 0, got ${o.sd}`);
  const decorrelate = o.decorrelate ?? o.channels === 3;
  if (decorrelate && o.channels !== 3) {
    throw new Error(`${where}: colour decorrelation needs 3 channels, got channels=${o.channels}`);
  }
  return { ...o, decay, sd, decorrelate };
}

/** A trainable variable holding `values`; the temporary initial tensor is freed (tf.variable shares its data). */
export function seededVariable(values: Float32Array, shape: number[]): tf.Variable {
  const init = tf.tensor(values, shape);
  const v = tf.variable(init, true);
  init.dispose();
  return v;
}
