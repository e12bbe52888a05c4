import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { KerasGraph, type LayerWeights } from './keras';

/** A small graph with every foldable conv class, one conv with two consumers and one with an activation. */
function topologyAndWeights(): { topo: any; weights: () => Map<string, LayerWeights> } {
  const layers: any[] = [];
  const spec: Record<string, [string, number[]][]> = {};
  const add = (cls: string, name: string, config: any, inputs: string[], w: [string, number[]][] = []) => {
    layers.push({ class_name: cls, name, config: { name, ...config }, inbound_nodes: inputs.length ? [inputs.map((i) => [i, 0, 0, {}])] : [] });
    spec[name] = w;
  };
  const bnW = (c: number, scale = true): [string, number[]][] => [...(scale ? [['gamma', [c]] as [string, number[]]] : []), ['beta', [c]], ['moving_mean', [c]], ['moving_variance', [c]]];
  add('InputLayer', 'in', { batch_input_shape: [null, 9, 9, 3] }, []);
  add('Conv2D', 'c1', { filters: 4, kernel_size: [3, 3], strides: 1, padding: 'same', use_bias: true }, ['in'], [['kernel', [3, 3, 3, 4]], ['bias', [4]]]);
  add('BatchNormalization', 'c1_bn', { axis: -1, epsilon: 1e-3 }, ['c1'], bnW(4));
  add('ReLU', 'c1_relu', {}, ['c1_bn']);
  add('DepthwiseConv2D', 'dw', { kernel_size: [3, 3], strides: 2, padding: 'same', depth_multiplier: 2, use_bias: false }, ['c1_relu'], [['depthwise_kernel', [3, 3, 4, 2]]]);
  add('BatchNormalization', 'dw_bn', { axis: 3, epsilon: 1e-3, scale: false }, ['dw'], bnW(8, false));
  add('SeparableConv2D', 'sep', { filters: 6, kernel_size: [3, 3], padding: 'valid', use_bias: false }, ['dw_bn'], [['depthwise_kernel', [3, 3, 8, 1]], ['pointwise_kernel', [1, 1, 8, 6]]]);
  add('BatchNormalization', 'sep_bn', { axis: -1, epsilon: 1e-5 }, ['sep'], bnW(6));
  // Two consumers: not folded.
  add('Conv2D', 'c2', { filters: 6, kernel_size: [1, 1], padding: 'same', use_bias: false }, ['sep_bn'], [['kernel', [1, 1, 6, 6]]]);
  add('BatchNormalization', 'c2_bn', { axis: -1 }, ['c2'], bnW(6));
  add('Add', 'sum', {}, ['c2', 'c2_bn']);
  // An activation between conv and BN: not folded.
  add('Conv2D', 'c3', { filters: 5, kernel_size: [1, 1], activation: 'relu', use_bias: true }, ['sum'], [['kernel', [1, 1, 6, 5]], ['bias', [5]]]);
  add('BatchNormalization', 'c3_bn', { axis: -1 }, ['c3'], bnW(5));
  const topo = { class_name: 'Functional', config: { layers, input_layers: [['in', 0, 0]], output_layers: [['c3_bn', 0, 0]] } };
  const weights = () => {
    let seed = 11;
    const m = new Map<string, LayerWeights>();
    for (const [layer, ws] of Object.entries(spec)) {
      if (!ws.length) continue;
      const lw: LayerWeights = new Map();
      for (const [n, shape] of ws) {
        const r = tf.randomUniform(shape, -1, 1, 'float32', seed++);
        lw.set(n, n === 'moving_variance' || n === 'gamma' ? tf.tidy(() => tf.add(tf.abs(r), 0.5)) : r);
        if (n === 'moving_variance' || n === 'gamma') r.dispose();
      }
      m.set(layer, lw);
    }
    return m;
  };
  return { topo, weights };
}

function maxAbsDiff(a: Float32Array | Int32Array | Uint8Array, b: Float32Array | Int32Array | Uint8Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('batch-norm folding (fold.ts via KerasGraph)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    describe(backend, () => {
      let folded: KerasGraph;
      let plain: KerasGraph;
      let ws: Map<string, LayerWeights>[];
      before(async () => {
        await initBackend(backend);
        const { topo, weights } = topologyAndWeights();
        ws = [weights(), weights()];
        folded = new KerasGraph(topo, ws[0]);
        plain = new KerasGraph(topo, ws[1], { foldBatchNorm: false });
      });
      after(() => {
        folded.dispose();
        plain.dispose();
        for (const m of ws) for (const l of m.values()) for (const t of l.values()) t.dispose();
      });

      it('folds exactly the single-consumer linear conv -> channel BN pairs', () => {
        assert.deepEqual([...folded.foldedPairs()].sort(), [['c1_bn', 'c1'], ['dw_bn', 'dw'], ['sep_bn', 'sep']]);
        assert.equal(plain.foldedPairs().size, 0);
      });

      it('every output and the input gradient equal the unfolded graph', async () => {
        const x = tf.randomUniform([2, 9, 9, 3], -1, 1, 'float32', 5);
        const names = ['c1_bn', 'dw_bn', 'sep_bn', 'c3_bn'];
        for (const name of names) {
          const [a, b] = [folded, plain].map((g) => g.run(x, [name])[0]);
          const scale = Math.max(1, ...(await b.data()).map(Math.abs));
          assert.ok(maxAbsDiff(await a.data(), await b.data()) / scale < 1e-5, `${name} differs`);
          tf.dispose([a, b]);
        }
        const grad = (g: KerasGraph) => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(g.run(v, ['c3_bn'])[0], tf.range(0, 5))))(x);
        const [ga, gb] = [grad(folded), grad(plain)];
        const gscale = Math.max(1, ...(await gb.data()).map(Math.abs));
        assert.ok(maxAbsDiff(await ga.data(), await gb.data()) / gscale < 1e-5, 'input gradients differ');
        tf.dispose([x, ga, gb]);
      });

      it('tapping a folded conv still returns its pre-BN output (with the BN in the same run)', async () => {
        const x = tf.randomUniform([1, 9, 9, 3], -1, 1, 'float32', 6);
        const [conv, bn] = folded.run(x, ['c1', 'c1_bn']);
        const [convRef, bnRef] = plain.run(x, ['c1', 'c1_bn']);
        assert.equal(maxAbsDiff(await conv.data(), await convRef.data()), 0);
        assert.ok(maxAbsDiff(await bn.data(), await bnRef.data()) < 1e-5);
        // The pre-BN and post-BN values really differ (the check above is not vacuous).
        assert.ok(maxAbsDiff(await conv.data(), await bn.data()) > 1e-2);
        tf.dispose([x, conv, bn, convRef, bnRef]);
      });

      it('leaks no tensor per run', () => {
        const x = tf.randomUniform([1, 9, 9, 3], -1, 1, 'float32', 7);
        const before = tf.memory().numTensors;
        tf.tidy(() => { folded.run(x, ['c3_bn']); });
        assert.equal(tf.memory().numTensors, before);
        x.dispose();
      });
    });
  }
});
