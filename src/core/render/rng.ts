/**
 * Small seeded PRNG (mulberry32) for everything random in rendering: parameter initialisation and
 * per-step transform draws. The same seed gives the same sequence on every backend and platform,
 * so a seed reproduces an image byte for byte (given the same backend arithmetic).
 */
export class Rng {
  private state: number;
  /** Second Box-Muller value, returned by the next `normal()` call. */
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    // Fold any finite number (negative, fractional, > 2^32) into 32 bits deterministically.
    this.state = (Math.trunc(seed) ^ Math.trunc(seed / 4294967296)) >>> 0;
  }

  /** Uniform in [0, 1), 32 bits of resolution. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Uniformly chosen element of a non-empty array. */
  choice<T>(arr: readonly T[]): T {
    if (arr.length === 0) throw new Error('Rng.choice: empty array');
    return arr[this.int(arr.length)];
  }

  /** Standard normal (Box-Muller; values come in pairs). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next(); // log(0) guard
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** `n` normals with standard deviation `sd`, as float32. */
  normals(n: number, sd = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * sd;
    return out;
  }
}
