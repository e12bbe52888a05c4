import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import { embeddedModelPath, loadModel } from '../model';
import type { NLModel } from '../model/types';
import { preprocessImage } from '../model/preprocess';
import { decodeImage, fitToInput, readImage } from '../image';
import { fixture } from '../testing/fixtures';
import { writeFashionPngs } from '../testing/fashion';
import { examples, ExamplesStopped, type UnitExamples } from './examples';

const N = 240;

/** Every image's value of each unit, by brute force: the whole folder through the model at once. */
function bruteForce(model: NLModel, dir: string, rels: string[]) {
  const x = tf.tensor4d(Float32Array.from(rels.flatMap((r) => [...readImage(path.join(dir, r)).data])), [rels.length, 28, 28, 1]);
  const [conv2, conv3, logits] = tf.tidy(() => model.tap(['conv2_relu', 'conv3', 'logits'], preprocessImage(model, x))).map((t) => {
    const a = t.arraySync() as number[][][][] | number[][];
    t.dispose();
    return a;
  });
  x.dispose();
  const mean = (m: number[][][], c: number) => m.flat().reduce((s, v) => s + v[c], 0) / (m.length * m[0].length);
  const max = (m: number[][][], c: number) => Math.max(...m.flat().map((v) => v[c]));
  return {
    'channel:conv2_relu:5': (conv2 as number[][][][]).map((m) => mean(m, 5)),
    'channel:conv2_relu:9': (conv2 as number[][][][]).map((m) => mean(m, 9)),
    'neuron:conv3:7': (conv3 as number[][][][]).map((m) => max(m, 7)),
    'logit:3': (logits as number[][]).map((l) => l[3]),
  } as Record<string, number[]>;
}

/** The k best images (ties: the earlier path). */
function ranking(values: number[], rels: string[], k: number, sign: 1 | -1): { image: string; activation: number }[] {
  return values.map((v, i) => ({ image: rels[i], activation: v }))
    .sort((a, b) => sign * (b.activation - a.activation) || (a.image < b.image ? -1 : 1)).slice(0, k);
}

function sameHits(got: UnitExamples['top'], want: { image: string; activation: number }[], what: string): void {
  assert.deepEqual(got.map((h) => h.image), want.map((h) => h.image), what);
  got.forEach((h, i) => assert.ok(Math.abs(h.activation - want[i].activation) < 1e-4 * Math.max(1, Math.abs(want[i].activation)), `${what} #${i}: ${h.activation} vs ${want[i].activation}`));
}

describe('examples: dataset examples from an image folder', () => {
  let model: NLModel;
  let tmp: string;
  let images: string;
  let rels: string[];
  let truth: Record<string, number[]>;

  before(async () => {
    await initBackend('wasm');
    model = await loadModel(embeddedModelPath());
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-examples-'));
    images = path.join(tmp, 'images');
    rels = writeFashionPngs(images, N, 50);
    truth = bruteForce(model, images, rels);
  });
  after(() => {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps the top-k and bottom-k of a brute-force ranking, with heatmaps, crops and examples.json; no tensor left', async () => {
    const out = path.join(tmp, 'out');
    const units = ['channel:conv2_relu:5', 'neuron:conv3:7', 'logit:3'];
    const before = tf.memory().numTensors;
    const progress: { done: number; total: number }[] = [];
    const r = await examples(model, { images, units, top: 5, bottom: 3, out, batch: 64, onProgress: (p) => progress.push(p) });
    assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
    assert.deepEqual(progress.map((p) => p.done), [0, 64, 128, 192, N]);
    assert.ok(progress.every((p) => p.total === N));
    assert.deepEqual(r.map((u) => [u.unit, u.statistic]), [['channel:conv2_relu:5', 'mean'], ['neuron:conv3:7', 'max'], ['logit:3', 'mean']]);
    for (const u of r) {
      sameHits(u.top, ranking(truth[u.unit], rels, 5, 1), `${u.unit} top`);
      sameHits(u.bottom, ranking(truth[u.unit], rels, 3, -1), `${u.unit} bottom`);
      for (const h of [...u.top, ...u.bottom]) {
        const heat = decodeImage(fs.readFileSync(path.join(out, h.heatmap)), h.heatmap);
        const crop = decodeImage(fs.readFileSync(path.join(out, h.crop)), h.crop);
        assert.deepEqual([heat.width, heat.height, heat.channels], [112, 112, 3], 'heatmap: the input scaled 4x, in colour');
        const [x, y, w, hh] = h.box;
        assert.ok(x >= 0 && y >= 0 && w >= 1 && hh >= 1 && x + w <= 28 && y + hh <= 28, `box ${h.box}`);
        assert.deepEqual([crop.width, crop.height], [w * 4, hh * 4]);
      }
    }
    // A conv3 neuron sees part of a 28x28 image; a logit, all of it.
    const field = r[1].top[0].box;
    assert.ok(field[2] < 28 || field[3] < 28, `conv3's receptive field ${field} is smaller than the image`);
    assert.deepEqual(r[2].top[0].box, [0, 0, 28, 28]);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'examples.json'), 'utf8'));
    assert.equal(json.images, images);
    assert.equal(json.imageCount, N);
    assert.equal(json.model.name, 'fashion_cnn');
    assert.deepEqual(json.units, JSON.parse(JSON.stringify(r)));
  });

  it('answers another unit of an indexed layer from the index (no image read for ranking)', async () => {
    const out = path.join(tmp, 'out');
    const progress: { done: number; total: number }[] = [];
    const r = await examples(model, { images, units: ['channel:conv2_relu:9'], top: 4, out, onProgress: (p) => progress.push(p) });
    assert.deepEqual(progress, [{ done: 0, total: 0 }]);
    sameHits(r[0].top, ranking(truth['channel:conv2_relu:9'], rels, 4, 1), 'conv2_relu:9 top');
    assert.deepEqual(r[0].bottom, []);
    // A layer not yet indexed needs a pass; the indexed layers are neither tapped again nor appended to.
    const bins = () => Object.fromEntries(fs.readdirSync(path.join(out, 'index')).flatMap((d) => fs.readdirSync(path.join(out, 'index', d))
      .filter((f) => f.endsWith('.bin')).map((f) => [f.replace(/-.*/, ''), fs.statSync(path.join(out, 'index', d, f)).size])));
    const before = bins();
    const totals: number[] = [];
    await examples(model, { images, units: ['channel:conv2_relu:1', 'channel:conv1:0'], top: 1, out, onProgress: (p) => totals.push(p.total) });
    assert.equal(totals[0], N);
    assert.deepEqual(bins(), { ...before, conv1: N * 32 * 8 });
  });

  it('keeps what an abort indexed and resumes with only the rest', async () => {
    const out = path.join(tmp, 'resume');
    const ac = new AbortController();
    await assert.rejects(examples(model, {
      images, units: ['channel:conv2_relu:5'], out, batch: 32, signal: ac.signal,
      onProgress: (p) => { if (p.done >= 64) ac.abort(); },
    }), (e: unknown) => e instanceof ExamplesStopped && /stopped after indexing 64 of 240 images; .* run again to resume/.test(e.message));
    // A kill between appending and committing leaves a tail past the header: it is ignored and overwritten.
    const bin = fs.readdirSync(path.join(out, 'index')).map((d) => path.join(out, 'index', d)).flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.bin')).map((f) => path.join(d, f)))[0];
    fs.appendFileSync(bin, Buffer.alloc(100, 7));
    const totals: number[] = [];
    const r = await examples(model, { images, units: ['channel:conv2_relu:5'], out, top: 5, bottom: 3, onProgress: (p) => totals.push(p.total) });
    assert.equal(totals[0], N - 64, 'only the images the first run did not index');
    sameHits(r[0].top, ranking(truth['channel:conv2_relu:5'], rels, 5, 1), 'resumed top');
    sameHits(r[0].bottom, ranking(truth['channel:conv2_relu:5'], rels, 3, -1), 'resumed bottom');
    assert.equal(fs.statSync(bin).size, N * 64 * 8, 'one record of 64 maxima and 64 means per image');
  });

  it('skips an unreadable image with a warning naming it, also when it is found in the index', async () => {
    const dir = path.join(tmp, 'some');
    writeFashionPngs(dir, 20);
    fs.writeFileSync(path.join(dir, '000', 'broken.png'), 'not a png');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
    const out = path.join(tmp, 'some-out');
    for (const run of [1, 2]) {
      const warnings: string[] = [];
      const r = await examples(model, { images: dir, units: ['logit:0'], top: 25, out, onWarning: (m) => warnings.push(m) });
      assert.equal(warnings.length, 1, `run ${run}: ${warnings.join('; ')}`);
      assert.match(warnings[0], /skipped .*000\/broken\.png/);
      assert.equal(r[0].top.length, 20);
      const json = JSON.parse(fs.readFileSync(path.join(out, 'examples.json'), 'utf8'));
      assert.deepEqual(json.skipped.map((s: { image: string }) => s.image), ['000/broken.png']);
      assert.match(json.skipped[0].reason, /unsupported image format/);
    }
  });

  it('rejects bad inputs with a clear error', async () => {
    const out = path.join(tmp, 'bad');
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(path.join(empty, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(empty, 'sub', 'a.txt'), 'x');
    const run = (o: Partial<Parameters<typeof examples>[1]>) => examples(model, { images, units: ['logit:0'], out, ...o });
    await assert.rejects(run({ images: path.join(tmp, 'nope') }), /examples: the image folder .*nope does not exist/);
    await assert.rejects(run({ images: path.join(images, '000', '00000.png') }), /is not a folder/);
    await assert.rejects(run({ images: empty }), /examples: no PNG or JPEG images under .*empty/);
    await assert.rejects(run({ units: ['cosine:conv3:1=1'] }), /cosine units cannot be ranked from per-channel statistics; use channel, neuron, logit or direction units/);
    await assert.rejects(run({ units: ['channel:conv2:1+channel:conv3:1'] }), /reads layers conv2 and conv3/);
    await assert.rejects(run({ top: -1 }), /--top must be an integer >= 0, got -1/);
    await assert.rejects(run({ top: 0 }), /--top and --bottom are both 0/);
    await assert.rejects(run({ units: ['channel:conv9:1'] }), /unknown layer "conv9"/);
  });
});

function std0(xs: Float32Array): number {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
}

describe('examples on MobileNet and photos', () => {
  let model: NLModel;
  let tmp: string;
  before(async () => {
    await initBackend('wasm');
    model = await loadModel(fixture('models', 'mobilenet_v1_0.25_224'), { inputRange: [-1, 1] });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-examples-mn-'));
    for (const f of ['coral_cat.png', 'coral_hot_dog.jpg', 'coffee.png', 'rocket.jpg']) fs.copyFileSync(fixture('images', f), path.join(tmp, f));
  });
  after(() => {
    model.dispose();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('ranks the photos of a class first; a logit on a 1x1 map takes the saliency as heatmap; a middle layer sees a part', async () => {
    const out = path.join(tmp, 'out');
    const r = await examples(model, { images: tmp, units: ['logit:hotdog', 'neuron:conv_pw_5_relu:3'], top: 2, out });
    assert.equal(r[0].top[0].image, 'coral_hot_dog.jpg');
    assert.deepEqual(r[0].top[0].box, [0, 0, 224, 224]);
    const heat = decodeImage(fs.readFileSync(path.join(out, r[0].top[0].heatmap)), 'heatmap');
    // Not one colour blended over the image: the map varies over the picture.
    const photo = fitToInput(readImage(path.join(tmp, 'coral_hot_dog.jpg')), 224, 224, 3).image;
    // (inside the box's outline)
    const tint = heat.data.map((v, i) => v - 0.5 * photo.data[i]).filter((_, i) => { const p = Math.floor(i / 3); return p % 224 >= 4 && p % 224 < 220 && p >= 4 * 224 && p < 220 * 224; });
    const std = std0(tint);
    assert.ok(std > 0.1, `the logit's heatmap is nearly uniform (std ${std})`);
    const [, , w, h] = r[1].top[0].box;
    assert.ok(w < 150 && h < 150, `conv_pw_5's receptive field ${r[1].top[0].box} is a part of the photo`);
  });
});
