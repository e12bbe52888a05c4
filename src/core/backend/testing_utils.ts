/** Helpers for the backend tests: seeded data, running a computation on a named backend, errors. */
import * as tf from '@tensorflow/tfjs-core';
import { setOneDnnKernels } from './onednn';

/** Deterministic standard-normal-ish values (sum of uniforms from a 32-bit LCG). */
export function randn(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = u() + u() + u() + u() - 2;
  return out;
}

/** Run `fn` with `backend` active and return its output values (float64 copy); restores the backend. */
export async function onBackend(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<Float64Array[]> {
  const prev = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const out = tf.tidy(fn);
    const list = Array.isArray(out) ? out : [out];
    const vals = list.map((t) => Float64Array.from(t.dataSync()));
    tf.dispose(list);
    return vals;
  } finally {
    await tf.setBackend(prev);
  }
}

/** max |a - b| / max |b|: the error relative to the reference's scale. */
export function relErr(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new Error(`length mismatch: ${a.length} vs reference ${ref.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  }
  return den === 0 ? num : num / den;
}

/** The CPU paths a kernel has: cpu (JavaScript), wasm with the oneDNN addon (when built), wasm without it. */
export const CPU_PATHS = [
  { backend: 'cpu', native: false, label: 'cpu' },
  { backend: 'wasm', native: true, label: 'wasm (oneDNN addon if built)' },
  { backend: 'wasm', native: false, label: 'wasm (no addon)' },
] as const;

export type CpuPath = (typeof CPU_PATHS)[number];

/** Runs `fn` with wasm's addon on or off as `path` says, then turns it back on (as initBackend leaves it). */
export async function withCpuPath(path: CpuPath, fn: () => Promise<void>): Promise<void> {
  if (path.backend === 'wasm') setOneDnnKernels(path.native);
  try {
    await fn();
  } finally {
    if (path.backend === 'wasm') setOneDnnKernels(true);
  }
}
