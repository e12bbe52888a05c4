import { strict as assert } from 'assert';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { parseUnits, unitObjective } from '../render/objectives';
import { Rng } from '../render/rng';
import { fixture } from '../testing/fixtures';
import { loadModel } from './index';

/** Input gradient of a unit's objective at a fixed input, computed on the given backend. */
async function inputGradient(backend: 'cpu' | 'wasm', spec: string, input: Float32Array): Promise<Float32Array> {
  await initBackend(backend);
  const model = await loadModel(path.join(fixture('models'), 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
  const objective = unitObjective(model, parseUnits(model, [spec]));
  try {
    const g = tf.tidy(() => {
      const x = tf.tensor4d(input, [1, 224, 224, 3]);
      return tf.grad((v: tf.Tensor) => tf.sum(objective.evaluate(model.tap(objective.layers, v as tf.Tensor4D))))(x);
    });
    const data = (await g.data()) as Float32Array;
    g.dispose();
    return data;
  } finally {
    objective.dispose();
    model.dispose();
  }
}

function relL2(a: Float32Array, ref: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) { num += (a[i] - ref[i]) ** 2; den += ref[i] ** 2; }
  return Math.sqrt(num / den);
}

describe('wasm input gradients equal cpu ones on mobilenet_v1_0.25_224', () => {
  const rng = new Rng(11);
  const input = Float32Array.from({ length: 224 * 224 * 3 }, () => rng.next() * 2 - 1);
  for (const spec of ['channel:conv_pw_5:3', 'logit:309']) {
    it(`${spec}: relative L2 error < 1e-4`, async () => {
      const cpu = await inputGradient('cpu', spec, input);
      const wasm = await inputGradient('wasm', spec, input);
      const err = relL2(wasm, cpu);
      console.log(`      relative L2 error wasm vs cpu ${err.toExponential(2)}`);
      assert.ok(cpu.some((v) => v !== 0), 'the gradient is not all zero');
      assert.ok(err < 1e-4, `relative error ${err}`);
    });
  }
});
