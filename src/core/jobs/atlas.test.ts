import { strict as assert } from 'assert';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as vm from 'vm';
import { initBackend } from '../backend';
import { embeddedModelPath, loadModel } from '../model';
import type { NLModel } from '../model/types';
import { writeFashionPngs } from '../testing/fashion';
import { repoRoot } from '../testing/fixtures';
import { atlasTransforms, parseShard, planAtlas, readPlan, runAtlas, shardFromEnv, writeAtlasIndex, type AtlasIndex } from './atlas';

const CLI = path.join(repoRoot, 'bin', 'neuron-lens.js');

function tmp(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `nl-atlas-${name}-`));
}

function readIndex(dir: string): AtlasIndex {
  return JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8'));
}

/** index.json's units with each PNG's bytes, for comparing two atlases. */
function contents(dir: string) {
  return readIndex(dir).units.map((u) => ({ ...u, bytes: Object.values(u.images).flat().map((p) => fs.readFileSync(path.join(dir, p)).toString('base64')) }));
}

describe('atlas', function () {
  this.timeout(300000);
  let model: NLModel;
  before(async () => {
    await initBackend('auto');
    model = await loadModel(embeddedModelPath());
  });
  after(() => model.dispose());

  it('plans every channel of the layers, keyed by model, unit and settings, in per-layer batches', () => {
    const plan = planAtlas(model, { layers: ['conv1'], units: ['logit:0-1', 'channel:conv1:3'], settings: { steps: 8, batch: 10 } });
    assert.equal(plan.units.length, 34, '32 channels + 2 logits; channel:conv1:3 once');
    assert.deepEqual(plan.units[3], { unit: 'channel:conv1:3', label: 'conv1 ch3', layer: 'conv1', channel: 3, key: plan.units[3].key });
    assert.match(plan.units[3].key, /^channel-conv1-3-[0-9a-f]{16}$/);
    assert.deepEqual(plan.batches.map((b) => b.length), [10, 10, 10, 2, 2], "a batch never mixes layers");
    const other = planAtlas(model, { layers: ['conv1'], settings: { steps: 9, batch: 10 } });
    assert.notEqual(other.units[3].key, plan.units[3].key, 'the settings are part of the key');
    const rebatched = planAtlas(model, { layers: ['conv1'], settings: { steps: 8, batch: 4 } });
    assert.equal(rebatched.units[3].key, plan.units[3].key, 'the batch size is not');
    assert.equal(plan.settings.transforms, 'pad:2,jitter:1,scale:0.9-1.1,rotate:10,jitter:1', 'standard transforms scaled to 28 pixels');
    assert.equal(atlasTransforms('standard', 224), 'standard');
    assert.equal(atlasTransforms('jitter:4', 28), 'jitter:4');
    assert.throws(() => planAtlas(model, { layers: ['conv9'] }), /unknown layer "conv9" \(the model has input, conv1/);
  });

  it('shards: i/n, JOB_COMPLETION_INDEX with --shards, SLURM array ids', () => {
    assert.deepEqual(parseShard('1/3'), { index: 1, count: 3 });
    assert.throws(() => parseShard('3/3'), /bad shard "3\/3"/);
    assert.deepEqual(shardFromEnv({ JOB_COMPLETION_INDEX: '2' }, 4), { index: 2, count: 4 });
    assert.throws(() => shardFromEnv({ JOB_COMPLETION_INDEX: '2' }), /--shards N/);
    assert.deepEqual(shardFromEnv({ SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: '4', SLURM_ARRAY_TASK_MIN: '1' }), { index: 2, count: 4 });
    assert.equal(shardFromEnv({}), undefined);
  });

  it('shards 0/3, 1/3 and 2/3 plus merge equal one unsharded run, PNG bytes included', async () => {
    const req = { layers: ['conv1'], units: ['logit:0-2'], settings: { steps: 8, batch: 6 }, params: ['pixel', 'fourier'] };
    const whole = tmp('whole');
    const r = await runAtlas(model, req, { out: whole });
    assert.equal(r.ran, 35);
    assert.equal(r.index, path.join(whole, 'index.html'));
    const sharded = tmp('sharded');
    for (let i = 0; i < 3; i++) {
      const s = await runAtlas(model, req, { out: sharded, shard: { index: i, count: 3 } });
      assert.equal(s.index, null, 'a shard writes no index');
      assert.ok(s.ran > 0 && s.ran < 35);
      if (i < 2) assert.throws(() => writeAtlasIndex(sharded), /units of the atlas in .* are not done \(/);
    }
    writeAtlasIndex(sharded);
    assert.deepEqual(contents(sharded), contents(whole));
    const index = readIndex(whole);
    assert.equal(index.model.name, 'fashion_cnn');
    assert.deepEqual(index.settings.params, ['pixel', 'fourier']);
    assert.deepEqual(Object.keys(index.units[0].images), ['pixel', 'fourier']);
    assert.equal(index.units[0].png, index.units[0].images.fourier[0], 'the grid shows Fourier images');
    const html = fs.readFileSync(path.join(whole, 'index.html'), 'utf8');
    assert.match(html, /<script type="application\/json" id="atlas-data">\{"model"/);
    assert.doesNotMatch(html, /https?:\/\//, 'the viewer loads nothing from the network');
    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1];
    assert.doesNotThrow(() => new vm.Script(script), "the viewer's script parses");
    assert.equal(readPlan(whole).units.length, 35);
  });

  it('--diversity N: N images per unit, a batch holding batch/N units', async () => {
    const out = tmp('diversity');
    const req = { units: ['channel:conv2:0-4'], settings: { steps: 4, batch: 4, diversity: 2 } };
    assert.deepEqual(planAtlas(model, req).batches, [[0, 1], [2, 3], [4]]);
    await runAtlas(model, req, { out });
    const u = readIndex(out).units[4];
    assert.equal(u.images.fourier.length, 2);
    assert.equal(u.activations.fourier.length, 2);
    assert.equal(u.png, u.images.fourier[0]);
    assert.match(u.images.fourier[1], /-fourier-d1\.png$/);
  });

  it('with an image folder, every unit has its dataset examples (one pass), paths relative to the atlas', async () => {
    const images = tmp('images');
    writeFashionPngs(images, 120);
    const out = tmp('examples');
    const req = { layers: ['conv2'], units: ['logit:0-1'], settings: { steps: 8 }, examples: { images, top: 4, bottom: 2 } };
    await runAtlas(model, req, { out });
    const index = readIndex(out);
    assert.equal(index.units.length, 66);
    for (const u of index.units) {
      assert.equal(u.examples?.top.length, 4, u.unit);
      assert.equal(u.examples?.bottom.length, 2, u.unit);
      for (const h of [...u.examples!.top, ...u.examples!.bottom]) {
        assert.ok(fs.existsSync(path.join(out, h.crop)) && fs.existsSync(path.join(out, h.heatmap)) && fs.existsSync(path.join(out, h.image)), h.image);
      }
      assert.ok(u.examples!.top[0].activation >= u.examples!.top[3].activation);
    }
    const logit1 = index.units.find((u) => u.unit === 'logit:1')!;
    assert.ok(logit1.examples!.top[0].activation > logit1.examples!.bottom[0].activation);
    const t = fs.statSync(path.join(out, 'examples', 'examples.json')).mtimeMs;
    await runAtlas(model, req, { out });
    assert.equal(fs.statSync(path.join(out, 'examples', 'examples.json')).mtimeMs, t, 'a re-run does not redo the examples');
  });

  it('a killed atlas run leaves no index and no half-written file; run again, it does only the rest', async () => {
    const out = tmp('resume');
    const args = [CLI, 'atlas', '--layer', 'conv1', '--layer', 'conv2', '--steps', '48', '--out', out];
    const killed = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => {
        err += d;
        if (/units 24\/96/.test(err)) child.kill('SIGKILL');
      });
      child.on('exit', () => resolve(err));
    });
    assert.match(killed, /units 24\/96/);
    assert.doesNotMatch(killed, /wrote/);
    assert.ok(!fs.existsSync(path.join(out, 'index.json')));
    const done = fs.readdirSync(path.join(out, 'units')).filter((f) => f.endsWith('.json'));
    assert.ok(done.length >= 24 && done.length < 96, `${done.length} units done before the kill`);
    const before = new Map(done.map((f) => [f, fs.statSync(path.join(out, 'units', f)).mtimeMs]));
    for (const f of done) {
      const u = JSON.parse(fs.readFileSync(path.join(out, 'units', f), 'utf8'));
      assert.ok(fs.statSync(path.join(out, u.images.fourier[0])).size > 0, 'a done unit has its PNG');
    }
    const again = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (d) => { err += d; });
      child.on('exit', (code) => (code === 0 ? resolve(err) : reject(new Error(err))));
    });
    assert.match(again, new RegExp(`${96 - done.length} units in .* s, ${done.length} already done; wrote`));
    for (const [f, t] of before) assert.equal(fs.statSync(path.join(out, 'units', f)).mtimeMs, t, `${f} was not redone`);
    const units = readIndex(out).units.map((u) => u.unit);
    assert.equal(units.length, 96);
    assert.equal(new Set(units).size, 96);
  });
});
