import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { loadModel, type NLModel } from '../model';
import { fixture } from '../testing/fixtures';
import { encodePng, fitToInput, readImage, toUint8, type RGBImage } from '../image';
import { attack, type AttackResult, type AttackRun } from './index';

// Ten fixed (photo, target) pairs; no photo's top-1 is its target.
const PAIRS: [string, number][] = [
  ['astronaut.png', 1], // goldfish
  ['chelsea.png', 954], // banana
  ['coffee.png', 309], // bee
  ['china.jpg', 417], // balloon
  ['coral_bird.png', 817], // sports car
  ['coral_cat.png', 530], // digital clock
  ['coral_dragonfly.png', 948], // Granny Smith
  ['coral_grace_hopper.png', 340], // zebra
  ['coral_hot_dog.jpg', 776], // sax
  ['rocket.jpg', 130], // flamingo
];

/** Top-1 of PNG files read back from disk, with the [-1,1] preprocessing written out here (not the engine's). */
async function classifyFiles(model: NLModel, files: string[]): Promise<number[]> {
  const imgs = files.map((f) => readImage(f));
  const t = tf.tidy(() => {
    const x = tf.concat(imgs.map((im) => tf.tensor4d(im.data, [1, im.height, im.width, im.channels])), 0);
    return tf.argMax(tf.reshape(model.tap([model.logitsLayer!], tf.sub(tf.mul(x, 2), 1) as tf.Tensor4D)[0], [files.length, -1]), 1);
  });
  const out = Array.from(await t.data());
  t.dispose();
  return out;
}

describe('attack (mobilenet_v1_0.75_224, wasm, 10 fixed photo/target pairs)', () => {
  let model: NLModel;
  let images: RGBImage[];
  const targets = PAIRS.map((p) => p[1]);
  let tmp: string;
  let am: AttackRun;

  before(async () => {
    await initBackend('wasm');
    model = await loadModel(fixture('models', 'mobilenet_v1_0.75_224'), { inputRange: [-1, 1] });
    images = PAIRS.map(([f]) => fitToInput(readImage(fixture('images', f)), 224, 224, 3).image);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-attack-'));
  });
  after(() => {
    model?.dispose();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /**
   * Writes original.png and adversarial.png of every pair, reads them back, and checks on the uint8 values:
   * |adv - orig| <= floor(eps*255) levels, the original is the 8-bit input, and the reported metrics match.
   * Returns how many read-back adversarials the model classifies as their target.
   */
  async function checkSaved(run: AttackRun, eps: number, tag: string): Promise<number> {
    const maxLevels = Math.floor(eps * 255 + 1e-6);
    const advFiles: string[] = [];
    for (const r of run.results) {
      const dir = path.join(tmp, `${tag}-${r.pair}`);
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, 'original.png'), encodePng(r.original));
      fs.writeFileSync(path.join(dir, 'adversarial.png'), encodePng(r.adversarial));
      advFiles.push(path.join(dir, 'adversarial.png'));
      const o = toUint8(readImage(path.join(dir, 'original.png')));
      const a = toUint8(readImage(path.join(dir, 'adversarial.png')));
      assert.deepEqual(o, toUint8(images[r.pair]), `pair ${r.pair}: original.png is the 8-bit input`);
      let levels = 0; let ss = 0;
      for (let i = 0; i < a.length; i++) { const d = a[i] - o[i]; levels = Math.max(levels, Math.abs(d)); ss += (d / 255) ** 2; }
      assert.ok(levels <= maxLevels, `${tag} pair ${r.pair}: |adv - orig| = ${levels} levels > ${maxLevels}`);
      assert.equal(r.linfLevels, levels);
      assert.ok(r.linf <= eps + 1e-7, `${tag} pair ${r.pair}: linf ${r.linf} > ${eps}`);
      assert.ok(Math.abs(r.l2 - Math.sqrt(ss)) < 1e-4, `${tag} pair ${r.pair}: l2 ${r.l2} vs ${Math.sqrt(ss)}`);
    }
    const top1 = await classifyFiles(model, advFiles);
    run.results.forEach((r, i) => {
      assert.equal(r.successAfterQuantization, top1[i] === r.target, `${tag} pair ${r.pair}: reported ${r.successAfterQuantization}, read-back top-1 ${top1[i]}`);
      assert.equal(r.success, r.successAfterQuantization, `${tag} pair ${r.pair}: the loop and the read-back PNG disagree`);
      if (r.successAfterQuantization) assert.ok(r.stepsToSuccess !== null && r.stepsToSuccess <= r.stepsRun);
    });
    return run.results.filter((r, i) => top1[i] === r.target).length;
  }

  it('AM, epsilon 0.01, 30 steps: >= 9 of 10 saved PNGs are classified as the target; L-inf <= epsilon exactly', async () => {
    const n0 = tf.memory().numTensors;
    am = await attack(model, images, targets, { method: 'am', epsilon: 0.01, step: 0.01, tv: 1e-4, steps: 30 });
    assert.equal(tf.memory().numTensors, n0, 'tensors leaked');
    assert.equal(am.results.length, 10);
    am.results.forEach((r, i) => {
      assert.notEqual(r.originalClass, targets[i], `pair ${i}: the photo is already the target`);
      assert.equal(r.top5Before[0].index, r.originalClass);
      assert.equal(r.top5After[0].index, r.finalClass);
      assert.ok(r.psnr > 30 && r.ssim > 0.9 && r.ssim < 1, `pair ${i}: psnr ${r.psnr} ssim ${r.ssim}`);
    });
    const hits = await checkSaved(am, 0.01, 'am');
    assert.ok(hits >= 9, `only ${hits}/10 pairs reached the target`);
  });

  it('lambda > 0 gives a smaller TV of delta than lambda = 0 at equal success', async () => {
    // With epsilon 0.01 the 8-bit ball is only 2 levels wide and delta sits on its corners whatever lambda is;
    // at 0.03 (7 levels) the TV term has room to act. Early stop as by default: each pair stops at success.
    const opts = { method: 'am' as const, epsilon: 0.03, step: 0.01, steps: 30 };
    const r0 = await attack(model, images, targets, { ...opts, tv: 0 });
    const r1 = await attack(model, images, targets, { ...opts, tv: 1e-3 });
    const ok = (r: AttackResult) => r.successAfterQuantization;
    const both = r0.results.flatMap((r, k) => (ok(r) && ok(r1.results[k]) ? [k] : []));
    assert.ok(both.length >= 9, `only ${both.length} pairs succeed in both runs`);
    const tv0 = both.reduce((s, k) => s + r0.results[k].tv, 0);
    const tv1 = both.reduce((s, k) => s + r1.results[k].tv, 0);
    console.log(`      mean TV of delta over ${both.length} pairs: lambda 0 ${(tv0 / both.length).toFixed(0)}, lambda 1e-3 ${(tv1 / both.length).toFixed(0)}`);
    const lower = both.filter((k) => r1.results[k].tv < r0.results[k].tv);
    assert.ok(lower.length >= both.length - 1, `TV lower for only ${lower.length} of ${both.length} pairs`);
    assert.ok(tv1 < tv0, `total TV ${tv1} (lambda 1e-3) vs ${tv0} (lambda 0)`);
  });

  it('FGSM and PGD run through the same loop, report the same metrics, and PGD succeeds at least as often as FGSM', async () => {
    const fgsm = await attack(model, images, targets, { method: 'fgsm', epsilon: 0.01 });
    const pgd = await attack(model, images, targets, { method: 'pgd', epsilon: 0.01, steps: 30 });
    assert.equal(fgsm.settings.steps, 1);
    assert.equal(fgsm.settings.step, 0.01);
    assert.equal(pgd.settings.tv, 0);
    const keys = Object.keys(am.results[0]).sort();
    for (const r of [...fgsm.results, ...pgd.results]) assert.deepEqual(Object.keys(r).sort(), keys);
    for (const r of fgsm.results) assert.ok(r.stepsRun <= 1);
    const nf = await checkSaved(fgsm, 0.01, 'fgsm');
    const np = await checkSaved(pgd, 0.01, 'pgd');
    assert.ok(np >= nf, `PGD ${np}/10 < FGSM ${nf}/10`);
    assert.ok(np >= 9, `PGD only ${np}/10`);
  });

  it('reports progress, stops when shouldStop says so, and keeps what it has', async () => {
    const n0 = tf.memory().numTensors;
    const seen: number[] = [];
    const run = await attack(model, images.slice(0, 2), [targets[2], targets[5]], {
      method: 'pgd', epsilon: 0.03, steps: 30, randomStart: true, seed: 3,
      onProgress: (p) => seen.push(p.step),
      shouldStop: () => seen.length >= 1,
    });
    assert.deepEqual(seen, [1]);
    assert.ok(run.cancelled);
    assert.equal(run.stepsRun, 1);
    for (const r of run.results) assert.ok(r.linfLevels <= 7 && r.stepsRun <= 1);
    assert.equal(tf.memory().numTensors, n0, 'tensors leaked');
  });

  it('bad inputs give one clear error line', async () => {
    const one = [images[0]];
    const cases: [Record<string, unknown>, RegExp, RGBImage[]?, number[]?][] = [
      [{ epsilon: 0 }, /epsilon must be in \(0, 1\].*got 0/],
      [{ epsilon: -0.1 }, /epsilon must be in \(0, 1\]/],
      [{ epsilon: 1.5 }, /epsilon must be in \(0, 1\]/],
      [{ epsilon: NaN }, /epsilon must be in \(0, 1\]/],
      [{ epsilon: 0.002 }, /below one 8-bit level/],
      [{ steps: 0 }, /steps must be an integer >= 1, got 0/],
      [{ steps: 2.5 }, /steps must be an integer >= 1/],
      [{ step: 0 }, /step must be a positive number/],
      [{ tv: -1 }, /tv \(lambda\) must be >= 0/],
      [{ method: 'cw' }, /method must be am, fgsm or pgd, got "cw"/],
      [{ update: 'adam' }, /update must be sign or gradient/],
      [{}, /target 1000 of pair 0 is not a class index .* \(0-999\)/, one, [1000]],
      [{}, /2 images but 1 targets/, [images[0], images[1]], [1]],
      [{}, /image 0 is 100x80x3 but mobilenet_v1_0\.75_224 takes 224x224x3/, [{ width: 100, height: 80, channels: 3, data: new Float32Array(100 * 80 * 3) }], [1]],
    ];
    for (const [opts, re, imgs, tg] of cases) {
      await assert.rejects(attack(model, imgs ?? one, tg ?? [1], opts as never), (e: Error) => {
        assert.match(e.message, re);
        assert.ok(!e.message.includes('\n'), `multi-line message: ${e.message}`);
        return true;
      });
    }
  });
});
