import { strict as assert } from 'assert';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../backend';
import { embeddedModelPath, loadModel } from '../../model';
import type { NLModel } from '../../model/types';
import { preprocessImage } from '../../model/preprocess';
import { Rng } from '../rng';
import { visualize, type UnitResult } from '../visualize';
import { diversityLayer, diversityObjective, parseUnits, unitObjective } from '.';

/** -mean_{j != i} cos(G_i, G_j) for rows [n][P][C], by hand. */
function byHand(f: number[][][]): number[] {
  const gram = (a: number[][]) => a[0].map((_, x) => a[0].map((_, y) => a.reduce((s, row) => s + row[x] * row[y], 0))).flat();
  const g = f.map(gram);
  const dot = (a: number[], b: number[]) => a.reduce((s, v, i) => s + v * b[i], 0);
  const cos = (a: number[], b: number[]) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
  return g.map((gi, i) => -g.reduce((s, gj, j) => s + (j === i ? 0 : cos(gi, gj)), 0) / (g.length - 1));
}

/** Mean absolute pixel difference over the pairs of images. */
function pixelSpread(rs: UnitResult[]): number {
  let sum = 0;
  let pairs = 0;
  for (let i = 0; i < rs.length; i++) {
    for (let j = i + 1; j < rs.length; j++) {
      const [a, b] = [rs[i].image.data, rs[j].image.data];
      let d = 0;
      for (let k = 0; k < a.length; k++) d += Math.abs(a[k] - b[k]);
      sum += d / a.length;
      pairs++;
    }
  }
  return sum / pairs;
}

describe('diversity', () => {
  before(async () => { await initBackend('wasm'); });

  it('scores each copy by minus its mean Gram cosine with the others (both ways of computing it), 0 outside groups', async () => {
    const rng = new Rng(2);
    // [batch 6, 2, 2, C]: group of 3 at elements 1-3 and of 2 at 4-5. C = 3 forms the Grams (C <= nP);
    // C = 20 takes the positions-kernel way (C > nP).
    for (const c of [3, 20]) {
      const data = Array.from({ length: 6 * 4 * c }, () => rng.next() - 0.3);
      const act = tf.tensor4d(data, [6, 2, 2, c]);
      const o = diversityObjective([{ start: 4, count: 2, layer: 'l' }, { start: 1, count: 3, layer: 'l' }], 6, 2);
      const got = [...tf.tidy(() => o.evaluate([act])).dataSync()];
      const rows = (b: number) => Array.from({ length: 4 }, (_, p) => data.slice((b * 4 + p) * c, (b * 4 + p + 1) * c));
      const want = [0, ...byHand([rows(1), rows(2), rows(3)]).map((v) => 2 * v), ...byHand([rows(4), rows(5)]).map((v) => 2 * v)];
      got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-5, `C=${c} element ${i}: ${v} vs ${want[i]}`));
      act.dispose();
    }
    assert.throws(() => diversityObjective([{ start: 0, count: 1, layer: 'l' }], 2, 1), /needs at least 2/);
    assert.throws(() => diversityObjective([{ start: 0, count: 2, layer: 'l' }, { start: 1, count: 2, layer: 'l' }], 4, 1), /overlap/);
  });

  describe('on the embedded Fashion CNN', () => {
    let model: NLModel;
    before(async () => { model = await loadModel(embeddedModelPath('fashion_cnn')); });
    after(() => model.dispose());

    it('compares at the unit\'s layer, or for logits and dense layers at the last feature map; checks --diversity-layer', () => {
      const [logit, ch, dense] = parseUnits(model, ['logit:3', 'channel:conv2_relu:7', 'channel:gap:1']);
      assert.equal(diversityLayer(model, logit), 'conv3_relu');
      assert.equal(diversityLayer(model, ch), 'conv2_relu');
      assert.equal(diversityLayer(model, dense), 'conv3_relu');
      assert.equal(diversityLayer(model, logit, 'pool1'), 'pool1');
      assert.throws(() => diversityLayer(model, logit, 'conv9'), /--diversity-layer: unknown layer "conv9"; nearest: conv/);
      assert.throws(() => diversityLayer(model, logit, 'gap'), /--diversity-layer: "gap" has shape \[null,128\]; the Gram matrix needs positions/);
    });

    it('rejects bad settings', async () => {
      const units = parseUnits(model, ['logit:3']);
      await assert.rejects(visualize(model, units, { steps: 1, diversity: { count: 1 } }), /--diversity must be an integer >= 2, got 1/);
      await assert.rejects(visualize(model, units, { steps: 1, diversity: { count: 2, weight: -1 } }), /--diversity-weight must be >= 0, got -1/);
      await assert.rejects(visualize(model, units, { steps: 1, diversity: { count: 2, layer: 'nope' } }), /--diversity-layer: unknown layer "nope"/);
    });

    it('batches copies side by side and never splits a unit\'s copies across chunks', async () => {
      const units = parseUnits(model, ['logit:1-3']);
      const chunks: string[] = [];
      const res = await visualize(model, units, {
        steps: 1, batch: 5, diversity: { count: 2 },
        onProgress: (p) => chunks.push(p.unitIndexes.map((u, k) => `${u}.${p.copies![k]}`).join(' ')),
      });
      assert.deepEqual(chunks, ['0.0 0.1 1.0 1.1', '2.0 2.1']);
      assert.deepEqual(res.units.map((r) => `${r.unit.spec}.${r.copy}`), ['logit:1.0', 'logit:1.1', 'logit:2.0', 'logit:2.1', 'logit:3.0', 'logit:3.1']);
      // Each copy starts from its own noise.
      assert.notDeepEqual(res.units[0].image.data, res.units[1].image.data);
      const big = await visualize(model, units.slice(0, 1), { steps: 1, batch: 2, diversity: { count: 3 } });
      assert.equal(big.units.length, 3, 'a unit\'s copies stay together even when --batch is smaller');
    });

    it('makes copies that differ from each other more than without it, each still activating its unit', async () => {
      const units = parseUnits(model, ['logit:3', 'channel:conv2_relu:7']);
      const opts = { steps: 96, seed: 1, batch: 8 };
      const random = await (async () => {
        const o = unitObjective(model, units);
        const v = tf.tidy(() => o.evaluate(model.tap(o.layers, preprocessImage(model, tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 1) as tf.Tensor4D))));
        const out = [...(await v.data())];
        v.dispose();
        o.dispose();
        return out;
      })();
      const before = tf.memory().numTensors;
      const diverse = await visualize(model, units, { ...opts, diversity: { count: 4 } });
      assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
      const control = await visualize(model, units, { ...opts, diversity: { count: 4, weight: 0 } });
      assert.deepEqual(diverse.units.map((r) => [r.unit.spec, r.copy]), units.flatMap((u) => [0, 1, 2, 3].map((k) => [u.spec, k])));
      for (const [u, unit] of units.entries()) {
        const layer = diversityLayer(model, unit);
        const stats = async (res: typeof diverse) => {
          const rs = res.units.filter((r) => r.unit === unit);
          const div = diversityObjective([{ start: 0, count: 4, layer }], 4, -1);
          const x = tf.stack(rs.map((r) => tf.tensor3d(r.image.data, [28, 28, 1]))) as tf.Tensor4D;
          const cos = tf.tidy(() => tf.mean(div.evaluate(model.tap([layer], preprocessImage(model, x)))));
          const gramCos = (await cos.data())[0];
          tf.dispose([x, cos]);
          return { acts: rs.map((r) => r.activation), pixels: pixelSpread(rs), gramCos };
        };
        const [d, c] = [await stats(diverse), await stats(control)];
        console.log(`      ${unit.spec} (Gram at ${layer}), random image ${random[u].toFixed(2)}:\n` +
          `        diversity: activations ${d.acts.map((a) => a.toFixed(2)).join(', ')}; mean |pixel difference| ${d.pixels.toFixed(3)}; mean Gram cosine ${d.gramCos.toFixed(3)}\n` +
          `        control:   activations ${c.acts.map((a) => a.toFixed(2)).join(', ')}; mean |pixel difference| ${c.pixels.toFixed(3)}; mean Gram cosine ${c.gramCos.toFixed(3)}`);
        assert.ok(d.gramCos < c.gramCos - 0.02, `${unit.spec}: Gram cosine ${d.gramCos} with diversity vs ${c.gramCos} without`);
        assert.ok(d.pixels > 0.1, `${unit.spec}: copies differ by only ${d.pixels} per pixel`);
        const scale = Math.max(...c.acts) - random[u];
        for (const a of d.acts) assert.ok(a > random[u] + 0.25 * scale, `${unit.spec}: a copy activates ${a}, random image ${random[u]}, control best ${Math.max(...c.acts)}`);
      }
    });
  });
});
