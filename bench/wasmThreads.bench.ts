// wasm backend at 1 vs N threads: ms per op, CPU time / wall time, per-OS-thread CPU, init time, heap limit.
//   npx tsx bench/wasmThreads.bench.ts [--threads 1,2] [--reps 10] [--memory]
// Each thread count runs in its own child process (a wasm backend initializes once per process). Timings on a
// shared machine are noisy: the load average is printed beside them.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import * as tfwasm from '@tensorflow/tfjs-backend-wasm';
import { initWasmThreaded } from '../src/core/backend/wasmThreads';

interface OpStat {
  ms: number; // median wall ms per call
  cpuPerWall: number; // process CPU time / wall time over all reps
  /** CPU ms per call of each OS thread that worked (busiest first). */
  threadMs: number[];
  /**
   * max of threadMs: the wall time per call on an otherwise idle machine (a thread that waits either blocks or
   * spins; both keep this bound), robust to other processes taking the cores.
   */
  uncontendedMs: number;
}

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}

/** CPU seconds per OS thread of this process (Linux /proc), busiest first. */
function threadCpu(): { tid: string; cpuS: number }[] {
  if (!fs.existsSync('/proc/self/task')) return [];
  const tick = 100; // USER_HZ on Linux
  return fs
    .readdirSync('/proc/self/task')
    .map((tid) => {
      const st = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return { tid, cpuS: (Number(f[11]) + Number(f[12])) / tick };
    })
    .sort((a, b) => b.cpuS - a.cpuS);
}

function bench(f: () => tf.Tensor, reps: number): OpStat {
  for (let i = 0; i < 2; i++) f().dispose(); // warm-up: XNNPACK operator creation, weight packing
  const times: number[] = [];
  const before = new Map(threadCpu().map((t) => [t.tid, t.cpuS]));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    const y = f();
    y.dataSync();
    y.dispose();
    times.push(performance.now() - t);
  }
  const wall = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  const threadMs = threadCpu()
    .map((t) => ((t.cpuS - (before.get(t.tid) ?? 0)) * 1000) / reps)
    .filter((ms) => ms * reps >= 20)
    .sort((a, b) => b - a);
  times.sort((a, b) => a - b);
  return {
    ms: times[Math.floor(reps / 2)],
    cpuPerWall: (cu.user + cu.system) / 1000 / wall,
    threadMs,
    uncontendedMs: threadMs.length ? threadMs[0] : NaN,
  };
}

async function child(threads: number, reps: number, memory: boolean): Promise<void> {
  const t0 = performance.now();
  const init = await initWasmThreaded(threads);
  const initMs = performance.now() - t0;
  const rssMiB = Math.round(process.memoryUsage().rss / 2 ** 20);
  const a = tf.randomNormal([1024, 1024], 0, 1, 'float32', 1) as tf.Tensor2D;
  const b = tf.randomNormal([1024, 1024], 0, 1, 'float32', 2) as tf.Tensor2D;
  const x = tf.randomNormal([1, 56, 56, 64], 0, 1, 'float32', 3) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 64, 64], 0, 0.1, 'float32', 4) as tf.Tensor4D;
  const dy = tf.randomNormal([1, 56, 56, 64], 0, 1, 'float32', 5) as tf.Tensor4D;
  // Input gradient of a stride-1 SAME conv as a forward conv of dy with the flipped, in/out-swapped filter.
  const wFlip = tf.tidy(() => tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2])) as tf.Tensor4D;
  const stockGrad = tf.conv2dTranspose(dy, w, [1, 56, 56, 64], 1, 'same');
  const flipGrad = tf.conv2d(dy, wFlip, 1, 'same');
  const gradDiff = tf.max(tf.abs(tf.sub(stockGrad, flipGrad))).dataSync()[0];
  const cpuBefore = threadCpu();
  const ops = {
    'matmul 1024x1024': bench(() => tf.matMul(a, b), reps),
    'conv 3x3 56x56x64->64 forward': bench(() => tf.conv2d(x, w, 1, 'same'), reps * 3),
    'conv input grad, stock Conv2DBackpropInput': bench(() => tf.conv2dTranspose(dy, w, [1, 56, 56, 64], 1, 'same'), reps),
    'conv input grad, as forward conv (XNNPACK)': bench(() => tf.conv2d(dy, wFlip, 1, 'same'), reps * 3),
  };
  const before = new Map(cpuBefore.map((t) => [t.tid, t.cpuS]));
  const busyThreads = threadCpu()
    .map((t) => ({ tid: t.tid, cpuS: +(t.cpuS - (before.get(t.tid) ?? 0)).toFixed(2) }))
    .filter((t) => t.cpuS >= 0.05);
  let heap: string | undefined;
  if (memory) {
    // Grow the (shared, for threads) wasm memory to 3 GiB in 256 MiB tensors, use them, free them.
    const held: tf.Tensor[] = [];
    const n = (256 << 20) / 4;
    for (let i = 0; i < 12; i++) held.push(tf.fill([n], i + 1));
    const ok = held.every((t, i) => tf.min(t).dataSync()[0] === i + 1 && tf.max(t).dataSync()[0] === i + 1);
    heap = `${(tf.memory().numBytes / 2 ** 30).toFixed(2)} GiB of tensors held in wasm memory, values intact: ${ok}`;
    held.forEach((t) => t.dispose());
  }
  const out = {
    threads: tfwasm.getThreadsCount(),
    reason: init.reason,
    initMs: Math.round(initMs),
    rssMiB,
    gradDiff,
    ops,
    busyThreads,
    heap,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function parent(): void {
  const counts = arg('--threads', '1,2').split(',').map(Number);
  const reps = arg('--reps', '10');
  const memory = process.argv.includes('--memory');
  console.log(`node ${process.version}, ${os.cpus().length} logical cores, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const n of counts) {
    const t0 = Date.now();
    const args = ['-r', 'tsx/cjs', __filename, '--child', String(n), '--reps', reps, ...(memory ? ['--memory'] : [])];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) {
      console.log(`threads ${n}: child failed (status ${r.status}, ${r.error ?? ''})\n${r.stderr}`);
      continue;
    }
    const o = JSON.parse(r.stdout.trim().split('\n').pop()!);
    console.log(`\n=== ${o.threads} thread(s): ${o.reason}; init ${o.initMs} ms, RSS after init ${o.rssMiB} MiB; child exited by itself after ${Date.now() - t0} ms`);
    for (const [name, s] of Object.entries(o.ops as Record<string, OpStat>)) {
      console.log(
        `  ${name.padEnd(46)} wall ${s.ms.toFixed(1).padStart(6)} ms, cpu/wall ${s.cpuPerWall.toFixed(2)}; ` +
          `CPU ms/call per thread ${s.threadMs.map((m) => m.toFixed(1)).join(' + ')} => uncontended ~${s.uncontendedMs.toFixed(1)} ms`,
      );
    }
    console.log(`  stock vs forward-conv input grad max |diff|: ${o.gradDiff}`);
    console.log(`  OS threads with CPU during the ops (s): ${o.busyThreads.map((t: { cpuS: number }) => t.cpuS).join(', ')}`);
    if (o.heap) console.log(`  ${o.heap}`);
  }
  console.log(`\nload average after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

if (process.argv.includes('--child')) {
  const memory = process.argv.includes('--memory');
  child(Number(arg('--child', '1')), Number(arg('--reps', '10')), memory).catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
} else {
  parent();
}
