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

/** ZeroPadding2D -> conv -> BN -> relu chains (and a conv -> relu one) for the fusion test. */
function chainGraph(): { topo: any; weights: Map<string, LayerWeights> } {
  const layers: any[] = [];
  const weights = new Map<string, LayerWeights>();
  let seed = 31;
  const add = (cls: string, name: string, config: any, input: string | null, w: [string, number[]][] = []) => {
    layers.push({ class_name: cls, name, config: { name, ...config }, inbound_nodes: input ? [[[input, 0, 0, {}]]] : [] });
    if (w.length) {
      weights.set(name, new Map(w.map(([n, shape]) => {
        const r = tf.randomUniform(shape, -1, 1, 'float32', seed++);
        return [n, n === 'moving_variance' || n === 'gamma' ? tf.tidy(() => tf.add(tf.abs(r), 0.5)) : r];
      })));
    }
  };
  const bnW = (c: number): [string, number[]][] => [['gamma', [c]], ['beta', [c]], ['moving_mean', [c]], ['moving_variance', [c]]];
  add('InputLayer', 'in', { batch_input_shape: [null, 12, 11, 3] }, null);
  add('ZeroPadding2D', 'pad1', { padding: [[3, 3], [3, 3]] }, 'in');
  add('Conv2D', 'conv1', { filters: 4, kernel_size: [7, 7], strides: 2, padding: 'valid', use_bias: false }, 'pad1', [['kernel', [7, 7, 3, 4]]]);
  add('BatchNormalization', 'bn1', { axis: -1 }, 'conv1', bnW(4));
  add('ReLU', 'relu1', { max_value: 6 }, 'bn1');
  add('ZeroPadding2D', 'pad2', { padding: [[0, 1], [0, 1]] }, 'relu1');
  add('DepthwiseConv2D', 'dw', { kernel_size: [3, 3], strides: 2, padding: 'valid', use_bias: false }, 'pad2', [['depthwise_kernel', [3, 3, 4, 1]]]);
  add('BatchNormalization', 'dw_bn', { axis: -1 }, 'dw', bnW(4));
  add('Activation', 'dw_relu', { activation: 'relu' }, 'dw_bn');
  add('ZeroPadding2D', 'pad3', { padding: 1 }, 'dw_relu');
  add('Conv2D', 'c3', { filters: 5, kernel_size: [3, 3], padding: 'valid', use_bias: true }, 'pad3', [['kernel', [3, 3, 4, 5]], ['bias', [5]]]);
  add('ReLU', 'c3_relu', {}, 'c3');
  // A batch norm with no convolution before it (a pre-activation), then its relu6.
  add('BatchNormalization', 'pre_bn', { axis: -1 }, 'c3_relu', bnW(5));
  add('ReLU', 'pre_relu', { max_value: 6 }, 'pre_bn');
  const topo = { class_name: 'Functional', config: { layers, input_layers: [['in', 0, 0]], output_layers: [['pre_relu', 0, 0]] } };
  return { topo, weights };
}

describe('convolution chains fused into one layer (KerasGraph.fuseChains)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: pads, batch norms and relus fold into their convolutions (a lone batch norm takes its relu); output and input gradient unchanged`, async () => {
      await initBackend(backend);
      const { topo, weights } = chainGraph();
      const g = new KerasGraph(topo, weights);
      try {
        assert.deepEqual(Object.fromEntries(g.fusedChains()), {
          conv1: ['pad1'], bn1: ['pad1', 'conv1'], relu1: ['pad1', 'conv1', 'bn1'],
          dw: ['pad2'], dw_bn: ['pad2', 'dw'], dw_relu: ['pad2', 'dw', 'dw_bn'],
          c3: ['pad3'], c3_relu: ['pad3', 'c3'], pre_relu: ['pre_bn'],
        });
        const all = ['pad1', 'conv1', 'bn1', 'relu1', 'pad2', 'dw', 'dw_bn', 'dw_relu', 'pad3', 'c3', 'c3_relu', 'pre_bn', 'pre_relu'];
        const x = tf.randomUniform([2, 12, 11, 3], -2, 4, 'float32', 8);
        // Wanting every layer's output leaves nothing to fuse: the plain layers are the reference.
        const fusedRun = (v: tf.Tensor) => g.run(v, ['pre_relu'])[0];
        const plainRun = (v: tf.Tensor) => { const outs = g.run(v, all); return outs[outs.length - 1]; };
        const w = tf.tidy(() => tf.randomUniform(fusedRun(x).shape, -1, 1, 'float32', 9));
        for (const [what, f] of [['output', (r: typeof fusedRun) => r(x)], ['input gradient', (r: typeof fusedRun) => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(r(v), w)))(x)]] as const) {
          const [a, b] = [f(fusedRun), f(plainRun)];
          const scale = Math.max(1e-3, ...(await b.data()).map(Math.abs));
          assert.ok(scale > 1e-2, `${what} is not vacuous`);
          assert.ok(maxAbsDiff(await a.data(), await b.data()) / scale < 1e-5, `${what} differs`);
          tf.dispose([a, b]);
        }
        tf.dispose([x, w]);
      } finally {
        g.dispose();
        for (const l of weights.values()) for (const t of l.values()) t.dispose();
      }
    });
  }
});
