// Child process for wasmThreads.test.ts: a wasm backend can be initialized once per process, so each thread
// count runs in its own process. Usage: node -r tsx/cjs wasmThreadsRun.ts <threads>
// Prints one JSON line: the thread result, and a conv forward, a conv input gradient and a matmul computed on
// wasm and on the cpu backend from the same seeded inputs. Exits on its own (that is part of what is tested).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { initWasmThreaded } from '../backend/wasmThreads';
import os = require('os');

export interface WasmThreadsRunOutput {
  threads: number;
  reason: string;
  /** URL.createObjectURL and os.cpus are the originals again after initialization. */
  hooksRestored: boolean;
  wasm: Record<string, number[]>;
  cpu: Record<string, number[]>;
}

function compute(): Record<string, number[]> {
  return tf.tidy(() => {
    const x = tf.randomNormal([2, 20, 20, 24], 0, 1, 'float32', 11) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, 24, 32], 0, 0.2, 'float32', 12) as tf.Tensor4D;
    const a = tf.randomNormal([192, 160], 0, 1, 'float32', 13) as tf.Tensor2D;
    const b = tf.randomNormal([160, 224], 0, 1, 'float32', 14) as tf.Tensor2D;
    const dy = tf.randomNormal([2, 20, 20, 32], 0, 1, 'float32', 15);
    const conv = tf.conv2d(x, w, 1, 'same');
    // Input gradient of sum(conv(x) * dy): Conv2DBackpropInput.
    const gradX = tf.grad((xi: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xi as tf.Tensor4D, w, 1, 'same'), dy)))(x);
    const matmul = tf.matMul(a, b);
    return {
      conv: Array.from(conv.dataSync()),
      convGradInput: Array.from(gradX.dataSync()),
      matmul: Array.from(matmul.dataSync()),
    };
  });
}

async function main(): Promise<void> {
  const threads = Number(process.argv[2]);
  const { createObjectURL } = URL;
  const { cpus } = os;
  const result = await initWasmThreaded(threads);
  const hooksRestored = URL.createObjectURL === createObjectURL && os.cpus === cpus;
  const wasm = compute();
  await tf.setBackend('cpu');
  const cpu = compute();
  const out: WasmThreadsRunOutput = { ...result, hooksRestored, wasm, cpu };
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (require.main === module) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
