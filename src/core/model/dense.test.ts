import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { CPU_PATHS, withCpuPath } from '../backend/testing_utils';
import { KerasGraph, type LayerWeights } from './keras';

// Dense and self-attention run x @ W with the input gradient taken against a stored W^T (matMulStoredT).
// Reference: the same layers written with plain tf.matMul (autodiff's own transposed-matmul gradient) and
// attention head by head with slices.
const D = 8;
const HEADS = 2;
const T = 5;

function setup(): { graph: KerasGraph; w: Map<string, LayerWeights> } {
  const layers = [
    { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, T, D] }, inbound_nodes: [] },
    { class_name: 'NeuronLens>MultiHeadSelfAttention', name: 'attn', config: { name: 'attn', num_heads: HEADS }, inbound_nodes: [[['in', 0, 0, {}]]] },
    { class_name: 'Dense', name: 'mlp', config: { name: 'mlp', units: 6, activation: 'gelu' }, inbound_nodes: [[['attn', 0, 0, {}]]] },
  ];
  const r = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);
  const w = new Map<string, LayerWeights>([
    ['attn', new Map([['qkv_kernel', r([D, 3 * D], 1)], ['qkv_bias', r([3 * D], 2)], ['out_kernel', r([D, D], 3)], ['out_bias', r([D], 4)]])],
    ['mlp', new Map([['kernel', r([D, 6], 5)], ['bias', r([6], 6)]])],
  ]);
  const graph = new KerasGraph({ class_name: 'Functional', config: { layers, input_layers: [['in', 0, 0]], output_layers: [['mlp', 0, 0]] } }, w);
  return { graph, w };
}

function reference(x: tf.Tensor, w: Map<string, LayerWeights>): tf.Tensor {
  const a = w.get('attn')!;
  const m = w.get('mlp')!;
  const [b] = x.shape;
  const hd = D / HEADS;
  const flat = tf.reshape(x, [b * T, D]);
  const qkv = tf.reshape(tf.add(tf.matMul(flat, a.get('qkv_kernel') as tf.Tensor2D), a.get('qkv_bias')!), [b, T, 3 * D]);
  const outs: tf.Tensor[] = [];
  for (let i = 0; i < b; i++) {
    const heads: tf.Tensor[] = [];
    for (let h = 0; h < HEADS; h++) {
      const part = (p: number) => tf.reshape(tf.slice(qkv, [i, 0, p * D + h * hd], [1, T, hd]), [T, hd]) as tf.Tensor2D;
      const s = tf.softmax(tf.div(tf.matMul(part(0), part(1), false, true), Math.sqrt(hd)), -1);
      heads.push(tf.matMul(s as tf.Tensor2D, part(2)));
    }
    outs.push(tf.concat(heads, 1));
  }
  const merged = tf.reshape(tf.stack(outs), [b * T, D]) as tf.Tensor2D;
  const attn = tf.add(tf.matMul(merged, a.get('out_kernel') as tf.Tensor2D), a.get('out_bias')!);
  const z = tf.add(tf.matMul(attn as tf.Tensor2D, m.get('kernel') as tf.Tensor2D), m.get('bias')!);
  const gelu = tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1));
  return tf.reshape(gelu, [b, T, 6]);
}

describe('Dense / self-attention with a stored transposed kernel', () => {
  // cpu and wasm with the oneDNN kernels (when built) run attention as batched matmuls, wasm without them head by head.
  for (const path of CPU_PATHS) {
    it(`${path.label}: output and input gradient equal plain tf.matMul autodiff`, async () => {
      await initBackend(path.backend);
      await withCpuPath(path, async () => {
        const { graph, w } = setup();
        try {
          const x = tf.randomUniform([2, T, D], -1, 1, 'float32', 9);
          const weights = tf.randomUniform([2, T, 6], -1, 1, 'float32', 10);
          const f = (run: (v: tf.Tensor) => tf.Tensor) => (v: tf.Tensor) => tf.sum(tf.mul(run(v), weights));
          const ours = f((v) => graph.run(v, ['mlp'])[0]);
          const ref = f((v) => reference(v, w));
          const before = tf.memory().numTensors;
          const [yo, yr] = tf.tidy(() => [ours(x), ref(x)]);
          const [go, gr] = [tf.grad(ours)(x), tf.grad(ref)(x)];
          const d = async (a: tf.Tensor, b: tf.Tensor) => {
            const [av, bv] = [await a.data(), await b.data()];
            let m = 0;
            let s = 0;
            for (let i = 0; i < av.length; i++) { m = Math.max(m, Math.abs(av[i] - bv[i])); s = Math.max(s, Math.abs(bv[i])); }
            return m / Math.max(s, 1e-12);
          };
          assert.ok((await d(yo, yr)) < 1e-5, `output rel err ${await d(yo, yr)}`);
          const ge = await d(go, gr);
          assert.ok(ge < 1e-5, `input gradient rel err ${ge}`);
          const norm = tf.norm(gr);
          assert.ok((await norm.data())[0] > 0.1, 'the gradient is not vacuous');
          norm.dispose();
          tf.dispose([yo, yr, go, gr]);
          assert.equal(tf.memory().numTensors, before);
          tf.dispose([x, weights]);
        } finally {
          graph.dispose();
          for (const l of w.values()) for (const t of l.values()) t.dispose();
        }
      });
    });
  }
});
