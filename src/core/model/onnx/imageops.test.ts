/**
 * The ops that exported image models use beyond the classifiers' (PRelu, ConvTranspose with groups and dilation,
 * InstanceNormalization, Softplus, Selu, reflect and edge Pad, dilated and ceil-mode MaxPool, Tile) against PyTorch: logits and the
 * input gradient, on cpu and wasm, with float32 and float16 weights. The model is exported at test time with Debian's
 * PyTorch (skipped, saying why, where `/usr/bin/python3` has no torch). Also: optional outputs nothing consumes, and a
 * batch norm in training mode after a convolution (which must not be folded into it).
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { loadModel } from '../index';
import { float, floatInit, int, ints, node, rand, writeModel } from './test_graphs';

const PY = '/usr/bin/python3';
const EXPORT = `
import sys, json, torch, numpy as np, onnx
from onnx import numpy_helper
torch.manual_seed(0)
out = sys.argv[1]
class Net(torch.nn.Module):
    def __init__(s):
        super().__init__()
        s.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        s.prelu = torch.nn.PReLU(4)
        s.up = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
        s.up2 = torch.nn.ConvTranspose2d(6, 4, 3, stride=1, padding=2, dilation=2)
        s.norm = torch.nn.InstanceNorm2d(4, affine=True)
        s.reflect = torch.nn.ReflectionPad2d((1, 2, 2, 1))
        s.edge = torch.nn.ReplicationPad2d((2, 0, 1, 1))
        s.pool = torch.nn.MaxPool2d(3, stride=2, dilation=2, padding=1)
        s.pool2 = torch.nn.MaxPool2d(3, stride=2, ceil_mode=True)
        s.head = torch.nn.Linear(4 * 5 * 10, 5)
    def forward(s, x):
        x = s.prelu(s.conv(x))
        x = s.up2(s.up(x))
        x = torch.nn.functional.softplus(s.norm(x))
        x = torch.nn.functional.selu(s.edge(s.reflect(x)))
        x = s.pool2(s.pool(x)).repeat(1, 1, 1, 2)
        return s.head(torch.flatten(x, 1))
m = Net().eval()
with torch.no_grad():
    torch.nn.init.uniform_(m.prelu.weight, -0.5, 0.5)
    torch.nn.init.uniform_(m.norm.weight, 0.5, 1.5)
    for p in m.parameters(): p.copy_(p.half().float())  # exact in float16
x = torch.randn(2, 3, 8, 8)
path = out + '/imageops.onnx'
torch.onnx.export(m, x, path, opset_version=13, input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'batch'}})
xg = x.clone().requires_grad_(True)
y = m(xg)
(y[:, 1].sum() + 0.5 * y[:, 3].sum()).backward()
json.dump({'x': x.flatten().tolist(), 'y': y.detach().flatten().tolist(), 'grad': xg.grad.flatten().tolist(),
           'ops': sorted({n.op_type for n in onnx.load(path).graph.node})}, open(out + '/imageops.json', 'w'))
# the same weights stored as float16, as half-precision exports hold them
mo = onnx.load(path)
for t in mo.graph.initializer:
    if t.data_type == onnx.TensorProto.FLOAT:
        t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
onnx.save(mo, out + '/imageops_fp16.onnx')
`;

interface Ref { x: number[]; y: number[]; grad: number[]; ops: string[] }

function relL2(a: ArrayLike<number>, ref: number[]): number {
  assert.equal(a.length, ref.length, 'length');
  let d = 0;
  let r = 0;
  for (let i = 0; i < ref.length; i++) {
    d += (a[i] - ref[i]) ** 2;
    r += ref[i] ** 2;
  }
  return Math.sqrt(d / r);
}

let dir: string;
let ref: Ref | null = null;
before(function () {
  this.timeout(180000);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-imageops-'));
  const r = spawnSync(PY, ['-c', EXPORT, dir], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) {
    if (/No module named '(torch|onnx|numpy)'|ENOENT/.test(`${r.stderr}${r.error?.message ?? ''}`)) return;
    throw new Error(`exporting the test model failed: ${r.stderr || r.error?.message}`);
  }
  ref = JSON.parse(fs.readFileSync(path.join(dir, 'imageops.json'), 'utf8')) as Ref;
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`ONNX image-model ops vs PyTorch (${backend})`, function () {
    this.timeout(180000);
    before(async function () {
      if (!ref) {
        console.log(`    skipped: ${PY} has no torch/onnx (apt-get install python3-torch python3-onnx)`);
        this.skip();
      }
      await initBackend(backend);
    });

    it('the export uses the ops under test', () => {
      for (const op of ['PRelu', 'ConvTranspose', 'InstanceNormalization', 'Softplus', 'Selu', 'Pad', 'MaxPool', 'Tile']) {
        assert.ok(ref!.ops.includes(op), `${op} in ${ref!.ops}`);
      }
    });

    for (const file of ['imageops.onnx', 'imageops_fp16.onnx']) {
      it(`${file}: logits and the input gradient match PyTorch, leaking no tensor`, async () => {
        const m = await loadModel(path.join(dir, file));
        try {
          const x = tf.tidy(() => tf.transpose(tf.tensor4d(ref!.x, [2, 3, 8, 8]), [0, 2, 3, 1])) as tf.Tensor4D;
          tf.dispose(m.tap(['logits'], x)); // the first run makes the constants' tensors (kept with the model)
          const n0 = tf.memory().numTensors;
          const y = tf.tidy(() => m.tap(['logits'], x)[0]);
          const g = tf.tidy(() => tf.transpose(tf.grad((xx: tf.Tensor) => {
            const l = m.tap(['logits'], xx as tf.Tensor4D)[0];
            return tf.add(tf.sum(tf.slice(l, [0, 1], [-1, 1])), tf.mul(tf.sum(tf.slice(l, [0, 3], [-1, 1])), 0.5));
          })(x), [0, 3, 1, 2]));
          const [ey, eg] = [relL2(y.dataSync(), ref!.y), relL2(g.dataSync(), ref!.grad)];
          tf.dispose([y, g]);
          assert.equal(tf.memory().numTensors, n0, 'tensors leaked');
          x.dispose();
          assert.ok(ey < 1e-5, `logits rel L2 ${ey}`);
          assert.ok(eg < 1e-4, `input gradient rel L2 ${eg}`);
        } finally {
          m.dispose();
        }
      });
    }

    it('loads a model whose optional outputs (MaxPool Indices, Dropout mask, LayerNormalization Mean) nothing consumes', async () => {
      const nodes = [
        node('MaxPool', ['input'], ['pooled', 'indices'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
        node('Dropout', ['pooled'], ['dropped', 'mask']),
        node('LayerNormalization', ['dropped', 'g', 'b'], ['out', 'mean', 'invstd'], [int('axis', -1), float('epsilon', 1e-5)]),
      ];
      const f = writeModel(dir, `optional_${backend}.onnx`, nodes, [floatInit('g', [2], [2, 3]), floatInit('b', [2], [0.5, -1])], [1, 4, 4], ['out'], 17);
      const m = await loadModel(f);
      try {
        const x = rand(16, 3);
        const y = tf.tidy(() => tf.transpose(m.tap(['out'], tf.tensor4d(x, [1, 4, 4, 1]))[0], [0, 3, 1, 2])).dataSync();
        // each pooled row [a, b] normalises to [h, -h], h = ((a - b) / 2) / sqrt(((a - b) / 2)^2 + eps); times g plus b
        for (let i = 0; i < 2; i++) {
          const p = [0, 1].map((j) => Math.max(x[8 * i + 2 * j], x[8 * i + 2 * j + 1], x[8 * i + 2 * j + 4], x[8 * i + 2 * j + 5]));
          const d = (p[0] - p[1]) / 2;
          const h = d / Math.sqrt(d * d + 1e-5);
          assert.ok(Math.abs(y[2 * i] - (2 * h + 0.5)) < 1e-4 && Math.abs(y[2 * i + 1] - (-3 * h - 1)) < 1e-4, `row ${i}: ${y}`);
        }
      } finally {
        m.dispose();
      }
    });

    it('does not fold a batch norm in training mode into the convolution before it: the batch statistics normalise', async () => {
      const nodes = [
        node('Conv', ['input', 'w'], ['c'], [ints('kernel_shape', [1, 1])]),
        node('BatchNormalization', ['c', 's', 'b', 'mean', 'var'], ['out'], [int('training_mode', 1)]),
      ];
      const inits = [floatInit('w', [2, 1, 1, 1], [1, -2]), floatInit('s', [2], [2, 3]), floatInit('b', [2], [1, -1]),
        floatInit('mean', [2], [100, 100]), floatInit('var', [2], [0.01, 0.01])];
      const m = await loadModel(writeModel(dir, `bntrain_${backend}.onnx`, nodes, inits, [1, 3, 3], ['out'], 15));
      try {
        const y = tf.tidy(() => m.tap(['out'], tf.tensor4d(rand(18, 5), [2, 3, 3, 1]))[0]);
        const { mean, variance } = tf.moments(y, [0, 1, 2]);
        assert.deepEqual(Array.from(mean.dataSync()).map((v) => +v.toFixed(3)), [1, -1]);
        assert.deepEqual(Array.from(variance.dataSync()).map((v) => +v.toFixed(2)), [4, 9]);
        tf.dispose([y, mean, variance]);
      } finally {
        m.dispose();
      }
    });

    it('reads a batch norm before opset 14 with omitted (empty) optional outputs as inference: the running statistics', async () => {
      const nodes = [node('BatchNormalization', ['input', 's', 'b', 'mean', 'var'], ['out', '', ''])];
      const inits = [floatInit('s', [1], [2]), floatInit('b', [1], [1]), floatInit('mean', [1], [0.5]), floatInit('var', [1], [4])];
      const m = await loadModel(writeModel(dir, `bninfer_${backend}.onnx`, nodes, inits, [1, 1, 2], ['out'], 9));
      try {
        const y = tf.tidy(() => m.tap(['out'], tf.tensor4d([0.5, 2.5], [1, 1, 2, 1]))[0]);
        assert.deepEqual(Array.from(y.dataSync()).map((v) => +v.toFixed(4)), [1, 3]);
        y.dispose();
      } finally {
        m.dispose();
      }
    });
  });
}
