import * as assert from 'assert';
import { Rng } from './rng';

describe('render/rng', () => {
  it('a seed reproduces the sequence; other seeds differ', () => {
    const seq = (seed: number) => {
      const r = new Rng(seed);
      return [r.next(), r.int(1000), r.normal(), r.normal(), r.choice(['a', 'b', 'c', 'd']), r.next()];
    };
    assert.deepStrictEqual(seq(123), seq(123));
    assert.notDeepStrictEqual(seq(123), seq(124));
    assert.notDeepStrictEqual(seq(0), seq(1));
  });

  it('matches the reference mulberry32 sequence for seed 1', () => {
    // Independent transcription of mulberry32 (Tommy Ettinger's constants).
    let a = 1;
    const ref = () => {
      a |= 0;
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const r = new Rng(1);
    for (let i = 0; i < 100; i++) assert.strictEqual(r.next(), ref());
  });

  it('next in [0,1), int in range and roughly uniform, normal has mean 0 and sd 1', () => {
    const r = new Rng(7);
    const counts = new Array(5).fill(0);
    let s = 0;
    let s2 = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) {
      const u = r.next();
      assert.ok(u >= 0 && u < 1);
      counts[r.int(5)]++;
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    for (const c of counts) assert.ok(Math.abs(c - n / 5) < 0.05 * n / 5, `counts ${counts}`);
    assert.ok(Math.abs(s / n) < 0.03, `mean ${s / n}`);
    assert.ok(Math.abs(Math.sqrt(s2 / n) - 1) < 0.03, `sd ${Math.sqrt(s2 / n)}`);
    const z = new Rng(3).normals(4, 0.5);
    assert.ok(z instanceof Float32Array && z.length === 4);
  });

  it('rejects bad arguments', () => {
    assert.throws(() => new Rng(NaN), /seed must be a finite number, got NaN/);
    assert.throws(() => new Rng(1).int(0), /n must be a positive integer, got 0/);
    assert.throws(() => new Rng(1).choice([]), /empty array/);
  });
});
