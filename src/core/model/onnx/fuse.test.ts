/**
 * Every node pattern of fuse.ts, on small random graphs written by the test: the fused run (the shared layers)
 * against the unfused interpretation (op by op), outputs and input gradients; and that tapping a pattern's inner
 * tensor runs that pattern op by op.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { OnnxGraph } from './index';
import { decodeModel } from './proto';
import { float, floatInit, int, intInit, ints, node, rand, writeModel } from './test_graphs';
import { ModelFolder } from '../folder';

let dir: string;
before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-fuse-')); });
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const scalar = (name: string, v: number) => floatInit(name, [], [v]);
/** Batch-norm parameters for `c` channels: scale, bias, mean, variance (positive). */
function bnInits(p: string, c: number, seed: number): object[] {
  return [floatInit(`${p}.s`, [c], rand(c, seed).map((v) => 1 + v)), floatInit(`${p}.b`, [c], rand(c, seed + 1)),
    floatInit(`${p}.m`, [c], rand(c, seed + 2)), floatInit(`${p}.v`, [c], rand(c, seed + 3).map((v) => 1 + v))];
}
const bn = (p: string, x: string, out: string) => node('BatchNormalization', [x, `${p}.s`, `${p}.b`, `${p}.m`, `${p}.v`], [out], [float('epsilon', 1e-3)]);

interface Case {
  name: string;
  nodes: object[];
  inits: object[];
  /** Input C, H, W (a 4-D image) */
  chw: number[];
  outputs: string[];
  /** The fused patterns expected: kind by output tensor. */
  kinds: Record<string, string>;
  /** An inner tensor of a pattern, to tap beside the outputs. */
  inner?: string;
  opset?: number;
}

const C = 4;
const CASES: Case[] = [
  {
    name: 'Conv + BatchNormalization + Clip(0, 6); depthwise Conv (stride 2, asymmetric pads) + BatchNormalization + Relu',
    nodes: [
      node('Conv', ['input', 'w1', 'b1'], ['c1'], [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])]),
      bn('bn1', 'c1', 'n1'),
      node('Clip', ['n1', 'zero', 'six'], ['a1']),
      node('Conv', ['a1', 'w2'], ['c2'], [ints('kernel_shape', [3, 3]), ints('pads', [0, 0, 1, 1]), ints('strides', [2, 2]), int('group', 6)]),
      bn('bn2', 'c2', 'n2'),
      node('Relu', ['n2'], ['a2']),
    ],
    inits: [floatInit('w1', [6, C, 3, 3], rand(6 * C * 9, 1)), floatInit('b1', [6], rand(6, 2)), ...bnInits('bn1', 6, 3),
      scalar('zero', 0), scalar('six', 6), floatInit('w2', [6, 1, 3, 3], rand(54, 8).map((v) => 3 * v)), ...bnInits('bn2', 6, 9)],
    chw: [C, 7, 6],
    outputs: ['a2'],
    kinds: { a1: 'Conv+BatchNormalization+Clip', a2: 'Conv+BatchNormalization+Relu' },
    inner: 'n1',
  },
  {
    name: 'Conv without bias + Clip(0, inf) (opset 10 attributes); a Conv whose output has two consumers runs alone',
    nodes: [
      node('Conv', ['input', 'w1'], ['c1'], [ints('kernel_shape', [1, 1])]),
      node('Clip', ['c1'], ['a1'], [float('min', 0)]),
      node('Conv', ['a1', 'w2', 'b2'], ['c2'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 1])]),
      node('Relu', ['c2'], ['r2']),
      node('Add', ['c2', 'r2'], ['out']),
    ],
    inits: [floatInit('w1', [5, C, 1, 1], rand(5 * C, 11)), floatInit('w2', [3, 5, 3, 3], rand(135, 12)), floatInit('b2', [3], rand(3, 13))],
    chw: [C, 6, 6],
    outputs: ['out'],
    kinds: { a1: 'Conv+Clip', c2: 'Conv' },
    inner: 'c1',
    opset: 10,
  },
  {
    name: 'Gemm (transB, with C); MatMul on [B, T, D] + Add (bias first); GELU in both exported erf forms',
    nodes: [
      node('Flatten', ['input'], ['fl']),
      node('Gemm', ['fl', 'gw', 'gb'], ['g'], [int('transB', 1)]),
      node('Reshape', ['g', 'shape'], ['tok']),
      node('MatMul', ['tok', 'mw'], ['mm']),
      node('Add', ['mb', 'mm'], ['lin']),
      // x * 0.5 * (1 + erf(x / sqrt 2)), as torch.nn.functional.gelu exports
      node('Div', ['lin', 'sqrt2'], ['d']),
      node('Erf', ['d'], ['e']),
      node('Add', ['e', 'one'], ['e1']),
      node('Mul', ['lin', 'e1'], ['xe']),
      node('Mul', ['xe', 'half'], ['gelu1']),
      // (0.5 * x) * (1 + erf(x * (1 / sqrt 2)))
      node('Mul', ['half', 'gelu1'], ['hx']),
      node('Mul', ['gelu1', 'isqrt2'], ['d2']),
      node('Erf', ['d2'], ['e2']),
      node('Add', ['one', 'e2'], ['e21']),
      node('Mul', ['e21', 'hx'], ['gelu2']),
    ],
    inits: [floatInit('gw', [12, C * 9], rand(12 * C * 9, 21)), floatInit('gb', [12], rand(12, 22)), intInit('shape', [0, 3, 4]),
      floatInit('mw', [4, 5], rand(20, 23).map((v) => 4 * v)), floatInit('mb', [5], rand(5, 24)),
      scalar('sqrt2', Math.SQRT2), scalar('isqrt2', Math.SQRT1_2), scalar('one', 1), scalar('half', 0.5)],
    chw: [C, 3, 3],
    outputs: ['gelu2'],
    kinds: { g: 'Gemm', lin: 'MatMul+Add', gelu1: 'Gelu', gelu2: 'Gelu' },
    inner: 'e2',
  },
  {
    name: 'BatchNormalization + Relu on an image; BatchNormalization + Clip(0, 6) on [N, C, L]; BatchNormalization on [N, C]',
    nodes: [
      bn('bn1', 'input', 'n1'),
      node('Relu', ['n1'], ['a1']),
      node('Reshape', ['a1', 'shape3'], ['r3']),
      bn('bn2', 'r3', 'n2'),
      node('Clip', ['n2', 'zero', 'six'], ['a2']),
      node('Flatten', ['a2'], ['f']),
      node('Reshape', ['f', 'shape2'], ['r2']),
      bn('bn3', 'r2', 'n3'),
    ],
    inits: [...bnInits('bn1', C, 41), intInit('shape3', [0, C, -1]), ...bnInits('bn2', C, 45), scalar('zero', 0), scalar('six', 6),
      intInit('shape2', [-1, 6]), ...bnInits('bn3', 6, 49)],
    chw: [C, 3, 2],
    outputs: ['n3'],
    kinds: { a1: 'BatchNormalization+Relu', a2: 'BatchNormalization+Clip', n3: 'BatchNormalization' },
    inner: 'n2',
  },
  {
    name: 'layer normalization as opsets before 17 export it (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add)',
    nodes: [
      node('Reshape', ['input', 'shape'], ['tok']),
      node('ReduceMean', ['tok'], ['mean'], [ints('axes', [-1])]),
      node('Sub', ['tok', 'mean'], ['d']),
      node('Pow', ['d', 'two'], ['sq']),
      node('ReduceMean', ['sq'], ['var'], [ints('axes', [-1])]),
      node('Add', ['var', 'eps'], ['ve']),
      node('Sqrt', ['ve'], ['sd']),
      node('Div', ['d', 'sd'], ['n']),
      node('Mul', ['n', 'gamma'], ['ng']),
      node('Add', ['ng', 'beta'], ['ln']),
    ],
    inits: [intInit('shape', [0, 4, 15]), scalar('two', 2), scalar('eps', 1e-5), floatInit('gamma', [15], rand(15, 31).map((v) => 1 + v)), floatInit('beta', [15], rand(15, 32))],
    chw: [C, 3, 5],
    outputs: ['ln'],
    kinds: { ln: 'LayerNormalization' },
    inner: 'var',
  },
];

function load(c: Case, file: string): OnnxGraph {
  const f = writeModel(dir, file, c.nodes, c.inits, c.chw, c.outputs, c.opset ?? 13);
  return new OnnxGraph(f, decodeModel(fs.readFileSync(f)), ModelFolder.of(f));
}

/** Outputs of `targets` and the input gradient of sum(outputs * r), fused or op by op (onValue given). */
function runWithGrad(g: OnnxGraph, x: tf.Tensor4D, targets: string[], fused: boolean): { ys: Float32Array[]; dx: Float32Array } {
  const run = (xi: tf.Tensor4D) => g.run(xi, targets, fused ? undefined : () => {}).map((v) => (v as { t: tf.Tensor }).t);
  return tf.tidy(() => {
    const ys = run(x).map((t) => t.dataSync() as Float32Array);
    const dx = tf.grad((xi: tf.Tensor) => tf.addN(run(xi as tf.Tensor4D).map((t, i) => tf.sum(tf.mul(t, tf.randomUniform(t.shape, -1, 1, 'float32', 7 + i))))))(x);
    return { ys, dx: dx.dataSync() as Float32Array };
  });
}

function maxRel(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0; let m = 0;
  for (let i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return d / m;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ONNX node patterns as shared layers (${backend})`, () => {
    before(async () => { await initBackend(backend); });

    for (const c of CASES) {
      it(c.name, () => {
        const g = load(c, `fuse_${backend}_${CASES.indexOf(c)}.onnx`);
        try {
          assert.deepEqual(Object.fromEntries([...g.fusions].map(([out, f]) => [out, f.kind])), c.kinds);
          const x = tf.tensor4d(rand(2 * c.chw[0] * c.chw[1] * c.chw[2], 99).map((v) => 4 * v), [2, c.chw[1], c.chw[2], c.chw[0]]);
          const fused = runWithGrad(g, x, c.outputs, true);
          const plain = runWithGrad(g, x, c.outputs, false);
          const n0 = tf.memory().numTensors; // after the op-by-op run made its weights' tensors
          runWithGrad(g, x, c.outputs, true);
          fused.ys.forEach((y, i) => assert.ok(maxRel(y, plain.ys[i]) < 1e-5, `${c.outputs[i]}: max rel ${maxRel(y, plain.ys[i])}`));
          assert.ok(maxRel(fused.dx, plain.dx) < 1e-4, `input gradient: max rel ${maxRel(fused.dx, plain.dx)}`);
          if (c.inner) {
            // The inner tensor's pattern runs op by op; the output is the same.
            const withInner = runWithGrad(g, x, [...c.outputs, c.inner], true);
            const plainInner = runWithGrad(g, x, [...c.outputs, c.inner], false);
            withInner.ys.forEach((y, i) => assert.ok(maxRel(y, plainInner.ys[i]) < 1e-5, `with ${c.inner} tapped: max rel ${maxRel(y, plainInner.ys[i])}`));
            assert.ok(maxRel(withInner.dx, plainInner.dx) < 1e-4);
          }
          assert.equal(tf.memory().numTensors, n0, 'tensors left after the runs');
          x.dispose();
        } finally {
          g.dispose();
        }
      });
    }
  });
}
