/**
 * A ViT exported by `torch.onnx.export` without a dynamic batch axis (as most exports in the wild are): its patch
 * Reshape and class-token Expand hold the batch of 1 as constants; and a small CNN exported the same way, whose batch
 * is in no constant. Made at test time with Debian's PyTorch (a tiny torchvision VisionTransformer); skipped, saying
 * why, where `/usr/bin/python3` has no torch. And small graphs exported at a fixed batch of 2: loaded where nothing
 * holds the batch, else refused with the reason.
 */
import { strict as assert } from 'assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { describeModel, formatDescription } from '../describe';
import { loadModel } from '../index';
import type { NLModel } from '../types';
import { floatInit, int, intInit, ints, node, rand, writeModel } from './test_graphs';

const PY = '/usr/bin/python3';
const EXPORT = `
import sys, torch, torchvision
torch.manual_seed(0)
m = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10).eval()
torch.nn.init.normal_(m.heads.head.weight)  # torchvision starts the head at zero
x = torch.randn(1, 3, 32, 32)
torch.onnx.export(m, x, sys.argv[1], input_names=['input'], output_names=['logits'], opset_version=13)
# a CNN whose batch is in no constant: Conv, ReLU, torch.flatten(x, 1) (an ONNX Flatten), Linear
c = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5)).eval()
torch.onnx.export(c, torch.randn(1, 3, 8, 8), sys.argv[2], input_names=['input'], output_names=['logits'], opset_version=13)
`;

function exportVit(dir: string): string | null {
  const file = path.join(dir, 'vit_fixed.onnx');
  const r = spawnSync(PY, ['-c', EXPORT, file, path.join(dir, 'cnn_fixed.onnx')], { encoding: 'utf8', timeout: 120000 });
  if (r.status !== 0) {
    if (/No module named '(torch|torchvision|onnx)'|ENOENT/.test(`${r.stderr}${r.error?.message ?? ''}`)) return null;
    throw new Error(`exporting the test ViT failed: ${r.stderr || r.error?.message}`);
  }
  return file;
}

describe('ONNX exported at a fixed batch of 1 (tiny torchvision ViT)', function () {
  this.timeout(180000);
  let dir: string;
  let m: NLModel | undefined;
  before(async function () {
    await initBackend('cpu');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-fixedbatch-'));
    const file = exportVit(dir);
    if (!file) {
      console.log(`    skipped: ${PY} has no torch/torchvision/onnx (apt-get install python3-torch python3-torchvision python3-onnx)`);
      this.skip();
    }
    m = await loadModel(file!);
  });
  after(() => {
    m?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('describes the input as exported ([1, 32, 32, 3]) and says how other batches run', () => {
    const d = describeModel(m!);
    assert.deepEqual(d.inputShape, [1, 32, 32, 3]);
    const text = formatDescription(d);
    assert.match(text, /input \[1, 32, 32, 3\]/);
    // the patch Reshape to [1, 32, 16] and the class token's Expand to [1, 1, 32]
    assert.match(text, /exported at batch 1 \(2 constant shape\(s\) carry it, e.g. vit_fixed.onnx: node \/Reshape \(Reshape\)\): a batch runs one image at a time/);
  });

  it('a batch of 3 gives the 3 single-image runs: logits, a block, and input gradients', () => {
    const block = 'encoder.layers.encoder_layer_1';
    assert.ok(m!.layers.some((l) => l.name === block), m!.layers.map((l) => l.name).join(','));
    tf.tidy(() => m!.tap(['logits'], tf.zeros([2, 32, 32, 3]) as tf.Tensor4D)); // fills the constants' cache
    const n0 = tf.memory().numTensors;
    tf.tidy(() => {
      const x = tf.randomNormal([3, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const [lg, act] = m!.tap(['logits', block], x);
      assert.deepEqual(lg.shape, [3, 10]);
      const f = (xx: tf.Tensor) => { const [l, a] = m!.tap(['logits', block], xx as tf.Tensor4D); return tf.add(tf.sum(tf.slice(l, [0, 3], [-1, 1])), tf.sum(tf.slice(a, [0, 1, 5], [-1, -1, 1]))) as tf.Scalar; };
      const g = tf.grad(f)(x);
      for (let i = 0; i < 3; i++) {
        const xi = tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D;
        const [li, ai] = m!.tap(['logits', block], xi);
        const gi = tf.grad(f)(xi);
        const close = (a: tf.Tensor, b: tf.Tensor, what: string) => {
          const err = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(b)).dataSync()[0];
          assert.ok(err < 1e-5, `image ${i} ${what}: max rel ${err}`);
        };
        close(tf.slice(lg, [i, 0], [1, -1]), li, 'logits');
        close(tf.slice(act, [i, 0, 0], [1, -1, -1]), ai, block);
        close(tf.slice(g, [i, 0, 0, 0], [1, -1, -1, -1]), gi, 'input gradient');
      }
    });
    assert.equal(tf.memory().numTensors, n0, 'tensors left');
  });

  it('a CNN exported at batch 1 whose batch is in no constant shape takes any batch at once, and says [?, ...]', async () => {
    const cnn = await loadModel(path.join(dir, 'cnn_fixed.onnx'));
    try {
      const d = describeModel(cnn);
      assert.deepEqual(d.inputShape, [null, 8, 8, 3]);
      assert.equal(d.batchNote, undefined);
      tf.tidy(() => {
        const x = tf.randomNormal([3, 8, 8, 3], 0, 1, 'float32', 8) as tf.Tensor4D;
        const [lg] = cnn.tap(['logits'], x);
        for (let i = 0; i < 3; i++) {
          const [li] = cnn.tap(['logits'], tf.slice(x, [i, 0, 0, 0], [1, -1, -1, -1]) as tf.Tensor4D);
          const err = tf.max(tf.abs(tf.sub(tf.slice(lg, [i, 0], [1, -1]), li))).dataSync()[0] / tf.max(tf.abs(li)).dataSync()[0];
          assert.ok(err < 1e-5, `image ${i}: max rel ${err}`);
        }
      });
    } finally {
      cnn.dispose();
    }
  });
});

describe('ONNX exported at a fixed batch larger than 1', () => {
  let tmp: string;
  before(async () => {
    await initBackend('cpu');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-fixedbatch2-'));
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  const conv = node('Conv', ['input', 'w'], ['c'], [ints('kernel_shape', [1, 1])]);
  const w = floatInit('w', [2, 3, 1, 1], rand(6, 1));

  it('loads where the batch is in no constant and no op (learning shapes at the exported batch), and takes any batch', async () => {
    const f = writeModel(tmp, 'b2.onnx', [conv, node('Flatten', ['c'], ['logits'])], [w], [3, 2, 2], ['logits'], 13, 2);
    const m = await loadModel(f);
    try {
      assert.deepEqual(m.layers.find((l) => l.isLogits)?.outputShape, [null, 8]);
      for (const b of [1, 3]) tf.tidy(() => assert.deepEqual(m.tap(['logits'], tf.zeros([b, 2, 2, 3]) as tf.Tensor4D)[0].shape, [b, 8]));
    } finally {
      m.dispose();
    }
  });

  it('is refused, saying how to export, where a constant shape holds the batch', async () => {
    const f = writeModel(tmp, 'b2reshape.onnx', [conv, node('Reshape', ['c', 'shape'], ['logits'])], [w, intInit('shape', [2, -1])],
      [3, 2, 2], ['logits'], 13, 2);
    await assert.rejects(loadModel(f), /b2reshape\.onnx: input input is exported at a fixed batch of 2, which constant shapes hold \(e\.g\. b2reshape\.onnx: node \/logits\/Reshape \(Reshape\)\); export with batch 1 or a dynamic batch axis/);
  });

  it('is refused, naming the node, where an op needs the exported batch (a Gather of image 1)', async () => {
    const f = writeModel(tmp, 'b2gather.onnx', [conv, node('Gather', ['c', 'one'], ['logits'], [int('axis', 0)])],
      [w, { name: 'one', dims: [], dataType: 7, int64Data: [1] }], [3, 2, 2], ['logits'], 13, 2);
    await assert.rejects(loadModel(f), /b2gather\.onnx: input input is exported at a fixed batch of 2 and does not run at batch 1 \(b2gather\.onnx: node \/logits\/Gather \(Gather\): index 1 out of range\); export with batch 1/);
  });

  it('is refused where an output keeps the exported batch at batch 1 (an Add of a constant of the batch\'s size)', async () => {
    const f = writeModel(tmp, 'b2add.onnx', [conv, node('Add', ['c', 'k'], ['logits'])], [w, floatInit('k', [2, 2, 1, 1], rand(4, 2))],
      [3, 2, 2], ['logits'], 13, 2);
    await assert.rejects(loadModel(f), /b2add\.onnx: input input is exported at a fixed batch of 2 and does not run at batch 1 \(output logits has shape \[2,2,2,2\]\)/);
  });
});
