import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { embeddedModelPath, loadModel } from '../../model';
import type { NLModel } from '../../model/types';
import { layerObjective, negate, parseUnits, scale, sum, unitObjective, type Objective } from '.';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * Math.max(1, Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

/** Evaluates an objective on acts given by layer name. */
function run(o: Objective, acts: Record<string, tf.Tensor>): Float32Array {
  return tf.tidy(() => o.evaluate(o.layers.map((l) => acts[l]))).dataSync() as Float32Array;
}

describe('objectives: the contract and its combinators', () => {
  before(async () => { await initBackend('cpu'); });

  it('sum routes each child its own layers; scale and negate scale; per-element factors', () => {
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const b = tf.tensor2d([[10, 0], [0, 20]]);
    const firstOfA = layerObjective('a', (x) => tf.squeeze(tf.slice(x, [0, 0], [-1, 1]), [1]) as tf.Tensor1D);
    const sumOfB = layerObjective('b', (x) => tf.sum(x, 1) as tf.Tensor1D);
    const sumOfA = layerObjective('a', (x) => tf.sum(x, 1) as tf.Tensor1D);
    const s = sum(firstOfA, sumOfB, sumOfA);
    assert.deepEqual(s.layers, ['a', 'b']);
    assert.deepEqual([...run(s, { a, b })], [1 + 10 + 3, 3 + 20 + 7]);
    assert.deepEqual([...run(scale(2, sumOfB), { b })], [20, 40]);
    assert.deepEqual([...run(negate(sumOfA), { a })], [-3, -7]);
    assert.deepEqual([...run(scale([0, -0.5], sumOfA), { a })], [0, -3.5]);
    assert.throws(() => sum(), /sum of no objectives/);
    let disposed = 0;
    sum(layerObjective('a', (x) => x as tf.Tensor1D, () => disposed++), scale(3, layerObjective('b', (x) => x as tf.Tensor1D, () => disposed++))).dispose();
    assert.equal(disposed, 2, 'dispose reaches every child');
    tf.dispose([a, b]);
  });

  describe('on the embedded Fashion CNN', () => {
    let model: NLModel;
    before(async () => { model = await loadModel(embeddedModelPath('fashion_cnn')); });
    after(() => model.dispose());

    it('linear kinds of a batch compile into one mask per layer and equal the hand computation', async () => {
      const units = parseUnits(model, ['logit:3', 'channel:conv3_relu:5', 'neuron:conv3_relu:5:1,2', '0.5*channel:conv3_relu:5-2*logit:1', 'direction:gap:0=2,5=-1']);
      const o = unitObjective(model, units);
      assert.deepEqual(o.layers, ['logits', 'conv3_relu', 'gap'], 'one weight tensor per layer, whatever the kinds');
      const x = tf.randomUniform([units.length, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
      const names = ['logits', 'conv3_relu', 'gap'];
      const acts = model.tap(names, x);
      const got = run(o, Object.fromEntries(names.map((n, i) => [n, acts[i]])));
      const [logits, conv3, gap] = await Promise.all(acts.map((t) => t.array())) as [number[][], number[][][][], number[][]];
      const mean5 = (b: number) => conv3[b].flat().reduce((s, v) => s + v[5], 0) / 49;
      const want = [logits[0][3], mean5(1), conv3[2][2][1][5], 0.5 * mean5(3) - 2 * logits[3][1], 2 * gap[4][0] - gap[4][5]];
      close(got, want, 1e-5, 'objective');
      tf.dispose([x, ...acts]);
      o.dispose();
    });

    it('a non-linear term is evaluated once for the batch and weighted per element', async () => {
      const units = parseUnits(model, ['cosine:gap:1=1', 'logit:2', '-3*cosine:gap:1=1+logit:2']);
      const o = unitObjective(model, units);
      const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 4) as tf.Tensor4D;
      const [logits, gap] = model.tap(['logits', 'gap'], x);
      const got = run(o, { logits, gap });
      const g = (await gap.array()) as number[][];
      const l = (await logits.array()) as number[][];
      const cos = (b: number) => g[b][1] / Math.hypot(...g[b]);
      close(got, [cos(0), l[1][2], -3 * cos(2) + l[2][2]], 1e-5, 'objective');
      tf.dispose([x, logits, gap]);
      o.dispose();
    });
  });
});
