/**
 * The ONNX importer against PyTorch's own numbers (shared/fixtures/onnx, see its README): logits, an intermediate
 * activation, and input gradients of channel / hidden-dimension means and of a logit, on `cpu` and `wasm`.
 */
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import { oneDnnActive } from '../../backend/onednn';
import { initBackend } from '../../backend';
import { fixture } from '../../testing/fixtures';
import type { NLModel } from '../types';
import { loadModel } from '../index';

function bin(name: string): Float32Array {
  const b = fs.readFileSync(fixture('onnx', name));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

interface Err {
  maxRel: number;
  relL2: number;
  cosine: number;
}

function compare(a: ArrayLike<number>, ref: ArrayLike<number>): Err {
  assert.equal(a.length, ref.length, 'length');
  let maxDiff = 0, maxRef = 0, d2 = 0, r2 = 0, a2 = 0, dot = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = a[i] - ref[i];
    maxDiff = Math.max(maxDiff, Math.abs(d));
    maxRef = Math.max(maxRef, Math.abs(ref[i]));
    d2 += d * d;
    r2 += ref[i] * ref[i];
    a2 += a[i] * a[i];
    dot += a[i] * ref[i];
  }
  return { maxRel: maxDiff / maxRef, relL2: Math.sqrt(d2 / r2), cosine: dot / Math.sqrt(a2 * r2) };
}

const measured: string[] = [];
function record(backend: string, model: string, what: string, e: Err): void {
  measured.push(`${backend.padEnd(5)} ${model.padEnd(17)} ${what.padEnd(34)} maxRel ${e.maxRel.toExponential(2)}  ` +
    `relL2 ${e.relL2.toExponential(2)}  cos ${e.cosine.toFixed(6)}`);
}
after(() => {
  if (measured.length) console.log('\n  errors vs PyTorch:\n  ' + measured.join('\n  '));
});

/** The fixture input as NHWC (the fixtures hold NCHW). */
function inputNHWC(): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.tensor4d(bin('mobilenet_v2.input.bin'), [1, 3, 224, 224]), [0, 2, 3, 1]));
}

/** d objective / d input, in PyTorch's NCHW layout. */
function inputGradNCHW(m: NLModel, names: string[], objective: (acts: tf.Tensor[]) => tf.Scalar): Float32Array {
  const x = inputNHWC();
  try {
    return tf.tidy(() => {
      const g = tf.grad((xx: tf.Tensor) => objective(m.tap(names, xx as tf.Tensor4D)))(x);
      return tf.transpose(g, [0, 3, 1, 2]);
    }).dataSync() as Float32Array;
  } finally {
    x.dispose();
  }
}

const channelMean = (c: number) => (acts: tf.Tensor[]) => {
  const a = acts[0];
  return tf.mean(tf.slice(a, [0, 0, 0, c], [-1, -1, -1, 1])) as tf.Scalar;
};
const dimMean = (d: number, firstToken: number) => (acts: tf.Tensor[]) =>
  tf.mean(tf.slice(acts[0], [0, firstToken, d], [-1, -1, 1])) as tf.Scalar;
const logit = (k: number) => (acts: tf.Tensor[]) => tf.squeeze(tf.slice(acts[0], [0, k], [1, 1])) as tf.Scalar;

/** Runs `fn`; on wasm a missing gradient kernel marks the test pending with the reason instead of failing. */
function guard(ctx: Mocha.Context, backend: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    const msg = (e as Error).message;
    if (backend === 'wasm' && /kernel .* not registered|not registered for backend|gradient function not found/i.test(msg)) {
      console.log(`    pending on wasm: ${msg}`);
      ctx.skip();
    }
    throw e;
  }
}

interface CnnCase { file: string; tap: string; tapRef: string; gradRef: string }
const CNNS: CnnCase[] = [
  { file: 'mobilenet_v2', tap: 'features.7', tapRef: 'mobilenet_v2.features7.bin', gradRef: 'mobilenet_v2.grad_features7_ch5_mean.bin' },
  { file: 'resnet18', tap: 'layer2', tapRef: 'resnet18.layer2.bin', gradRef: 'resnet18.grad_layer2_ch5_mean.bin' },
];

for (const backend of ['cpu', 'wasm']) {
  describe(`ONNX import vs PyTorch (${backend})`, () => {
    before(async () => {
      await initBackend(backend as 'cpu' | 'wasm');
    });

    for (const c of CNNS) {
      describe(c.file, () => {
        let m: NLModel;
        before(async () => {
          m = await loadModel(fixture('onnx', `${c.file}.onnx`));
        });
        after(() => m?.dispose());

        it('lists the torchvision modules and the logits', () => {
          const tap = m.layers.find((l) => l.name === c.tap);
          assert.ok(tap, `layer ${c.tap} in ${m.layers.map((l) => l.name).join(',')}`);
          const logits = m.layers.filter((l) => l.isLogits);
          assert.deepEqual(logits.map((l) => [l.name, l.outputShape, l.channels]), [['logits', [null, 1000], 1000]]);
          assert.equal(m.logitsLayer, 'logits');
          assert.deepEqual(m.input, { height: 224, width: 224, channels: 3 });
        });

        it('logits and the tapped module match PyTorch (max rel < 1e-4), leaking no tensor', () => {
          const n0 = tf.memory().numTensors;
          const x = inputNHWC();
          const [lg, act] = m.tap(['logits', c.tap], x);
          const e = compare(lg.dataSync(), bin(`${c.file}.logits.bin`));
          record(backend, c.file, 'logits', e);
          const actNCHW = tf.transpose(act, [0, 3, 1, 2]);
          const ea = compare(actNCHW.dataSync(), bin(c.tapRef));
          record(backend, c.file, c.tap, ea);
          tf.dispose([x, lg, act, actNCHW]);
          assert.equal(tf.memory().numTensors, n0, 'tensors left after a tap');
          assert.ok(e.maxRel < 1e-4, `logits max rel ${e.maxRel}`);
          assert.ok(ea.maxRel < 1e-4, `${c.tap} max rel ${ea.maxRel}`);
        });

        it(`input gradient of ${c.tap} channel 5 mean matches PyTorch (rel L2 < 1e-3; 1e-2 for a cpu max-pool tie)`, function () {
          guard(this, backend, () => {
            const e = compare(inputGradNCHW(m, [c.tap], channelMean(5)), bin(c.gradRef));
            record(backend, c.file, `grad ${c.tap} ch5 mean`, e);
            // cpu's conv (and oneDNN's, on wasm when the native kernels are on) sums in another order than PyTorch:
            // on resnet18 one 3x3 max-pool window (output 25,35, channel 31) then holds an exact float32 tie, broken
            // toward another input than PyTorch's. 0.16% of the pixels move (rel L2 3.8e-3, cosine 0.99999);
            // XNNPACK has no tie there and matches to 7e-7.
            const tie = c.file === 'resnet18' && (backend === 'cpu' || oneDnnActive());
            const tol = tie ? 1e-2 : 1e-3;
            assert.ok(e.relL2 < tol, `rel L2 ${e.relL2}`);
            assert.ok(e.cosine > 0.9999, `cosine ${e.cosine}`);
          });
        });

        // the slowest check on the slow cpu backend, and the loosest: wasm runs it, cpu does not
        if (backend !== 'cpu') it('input gradient of logit 7 agrees with PyTorch (cosine >= 0.99; ReLU kinks, see README)', function () {
          guard(this, backend, () => {
            const e = compare(inputGradNCHW(m, ['logits'], logit(7)), bin(`${c.file}.grad_logit7.bin`));
            record(backend, c.file, 'grad logit 7', e);
            assert.ok(e.cosine >= 0.99, `cosine ${e.cosine}`);
          });
        });
      });
    }

    for (const file of ['vit_tiny', 'vit_tiny_opset17']) {
      describe(file, () => {
        let m: NLModel;
        const block = 'encoder.layers.encoder_layer_2';
        before(async () => {
          m = await loadModel(fixture('onnx', `${file}.onnx`));
        });
        after(() => m?.dispose());

        it('lists the encoder blocks with [batch, tokens, dim] shapes and the logits', () => {
          for (let i = 0; i < 4; i++) {
            const l = m.layers.find((k) => k.name === `encoder.layers.encoder_layer_${i}`);
            assert.ok(l, `block ${i} in ${m.layers.map((k) => k.name).join(',')}`);
            assert.deepEqual([l.outputShape, l.channels], [[null, 197, 192], 192]);
          }
          assert.equal(m.logitsLayer, 'logits');
          // the short alias taps the same tensor (a forward pass: wasm only, cpu is slow)
          if (backend === 'cpu') return;
          const x = tf.zeros([1, 224, 224, 3]) as tf.Tensor4D;
          const [a, b] = m.tap(['encoder.layers.2', block], x);
          assert.equal(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]), 0);
          tf.dispose([x, a, b]);
        });

        it('logits and block 2 match PyTorch (max rel < 1e-4)', () => {
          const x = inputNHWC();
          const [lg, b2] = m.tap(['logits', block], x);
          const e = compare(lg.dataSync(), bin('vit_tiny.logits.bin'));
          const eb = compare(b2.dataSync(), bin('vit_tiny.block2.bin'));
          record(backend, file, 'logits', e);
          record(backend, file, 'block2', eb);
          tf.dispose([x, lg, b2]);
          assert.ok(e.maxRel < 1e-4, `logits max rel ${e.maxRel}`);
          assert.ok(eb.maxRel < 1e-4, `block2 max rel ${eb.maxRel}`);
        });

        const grads: [string, (a: tf.Tensor[]) => tf.Scalar, string, string][] = [
          ['block 2 dim 5 mean, all tokens', dimMean(5, 0), block, 'vit_tiny.grad_block2_dim5_mean_all_tokens.bin'],
          ['block 2 dim 5 mean, patch tokens', dimMean(5, 1), block, 'vit_tiny.grad_block2_dim5_mean_patch_tokens.bin'],
          ['logit 7', logit(7), 'logits', 'vit_tiny.grad_logit7.bin'],
        ];
        for (const [label, obj, layer, ref] of grads) {
          // the slow cpu backend checks opset 17's LayerNormalization gradient through the logit only
          if (backend === 'cpu' && file === 'vit_tiny_opset17' && label !== 'logit 7') continue;
          it(`input gradient of ${label} matches PyTorch (rel L2 < 1e-3)`, function () {
            guard(this, backend, () => {
              const e = compare(inputGradNCHW(m, [layer], obj), bin(ref));
              record(backend, file, `grad ${label}`, e);
              // the all-token and patch-token references differ by rel L2 4.6e-3: 1e-3 tells them apart
              assert.ok(e.relL2 < 1e-3, `rel L2 ${e.relL2}`);
            });
          });
        }
      });
    }
  });
}
