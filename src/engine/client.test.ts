// The engine client against a real engine child process (src/engine/main.ts run through tsx).
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { PNG } from 'pngjs';
import { CANCEL_GRACE_MS, EngineClient, isCancelled } from './client';
import type { Progress } from './protocol';
import { writeLargeModel, writeTinyModel } from './testing';
import { loadModel } from '../core/model';
import { describeJob } from '../core/jobs';
import { BACKEND_SETTINGS, backendSummary } from '../core/backend/names';
import { paramInfos } from '../core/render/param';
import { repoRoot } from '../core/testing/fixtures';
import { createImage, encodePng } from '../core/image';

const settings = { param: 'fourier' as const, steps: 6, size: 32, lr: 0.05, seed: 1, transforms: 'standard', batch: 4 };

function decode(b64: string): PNG {
  return PNG.sync.read(Buffer.from(b64, 'base64'));
}

/** Standard deviation of the RGB bytes: 0 for a blank image. */
function spread(png: PNG): number {
  const v: number[] = [];
  for (let i = 0; i < png.data.length; i += 4) v.push(png.data[i], png.data[i + 1], png.data[i + 2]);
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
}

describe('EngineClient with a real engine process', function () {
  let dir: string;
  let modelPath: string;
  let client: EngineClient;
  const logs: string[] = [];
  const exits: { code: number | null; signal: string | null; expected: boolean }[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-engine-'));
    modelPath = await writeTinyModel(path.join(dir, 'tiny'));
    client = new EngineClient({
      modulePath: path.join(__dirname, 'main.ts'),
      execArgv: ['--require', require.resolve('tsx/cjs')],
      backend: 'wasm',
      onLog: (_l, m) => logs.push(m),
      onExit: (e) => exits.push(e),
    });
  });
  after(() => {
    client.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts lazily and reports the backend it chose', async () => {
    assert.strictEqual(client.running, false);
    const b = await client.start();
    assert.strictEqual(b.name, 'wasm');
    assert.match(b.reason, /wasm/);
    assert.ok(b.threads! >= 1);
    assert.strictEqual(client.starts, 1);
  });

  it('init carries the native kernels when the addon serves the engine, and the capabilities from the registries', async () => {
    const b = await client.start();
    // The addon is built in native/build (npm run build:native) unless this machine lacks libdnnl: then the
    // engine must say so instead (and must not claim it).
    const built = fs.existsSync(path.join(repoRoot, 'native', 'build', 'onednn.node')) && process.env.NEURON_LENS_NATIVE !== '0';
    if (built) {
      assert.match(b.native ?? '', /^oneDNN/, `no native in init: ${b.reason}`);
      assert.match(b.reason, /oneDNN/);
      assert.match(backendSummary(b), /^wasm \+ oneDNN, \d+ threads?$/);
    } else {
      assert.strictEqual(b.native, undefined);
      assert.match(b.reason, /native kernels/);
    }
    // From the engine's registries (this process's may hold test registrations: compare the built-ins).
    const names = (xs: { name: string }[]) => xs.map((x) => x.name);
    assert.ok(['pixel', 'fourier'].every((n) => names(b.capabilities.params).includes(n)), names(b.capabilities.params).join());
    assert.ok(['logit', 'channel', 'neuron', 'vit'].every((n) => names(b.capabilities.unitKinds).includes(n)), names(b.capabilities.unitKinds).join());
    assert.deepStrictEqual(b.capabilities.params.find((p) => p.name === 'fourier'), paramInfos().find((p) => p.name === 'fourier'));
    assert.ok(b.capabilities.unitKinds.some((k) => k.name === 'channel' && k.syntax.startsWith('channel:')));
    assert.deepStrictEqual(b.capabilities.backends, [...BACKEND_SETTINGS]);
    assert.ok(b.capabilities.modelFiles.some((f) => f.pattern === '.onnx'));
  });

  it('loads a model and describes it exactly as the core does in this process', async () => {
    const r = await client.loadModel({ path: modelPath });
    const local = await loadModel(modelPath);
    assert.deepStrictEqual(r.description, JSON.parse(JSON.stringify(describeJob(local))));
    assert.deepStrictEqual(r.description.layers.find((l) => l.name === 'conv_b')?.unitKinds, ['channel', 'neuron', 'direction', 'cosine']);
    assert.deepStrictEqual(r.description.layers.find((l) => l.name === 'logits')?.unitKinds, ['logit', 'direction', 'cosine']);
    assert.ok(r.unitKinds.some((k) => k.name === 'channel' && k.syntax.startsWith('channel:')));
    const units = await client.request('units', { model: { path: modelPath }, units: ['channel:conv_b:0-1', 'logit:sneaker'] }).result;
    assert.deepStrictEqual(units.units.map((u) => u.spec), ['channel:conv_b:0', 'channel:conv_b:1', 'logit:7']);
    await assert.rejects(client.request('units', { model: { path: modelPath }, units: ['channel:conv_z:0'] }).result, /unknown layer "conv_z"/);
    local.dispose();
    assert.match(r.hash, /^[0-9a-f]{64}$/);
    assert.strictEqual(r.classNames?.[7], 'sneaker');
    // The hash follows the weights: change one byte of weights.bin and it changes.
    const w = path.join(path.dirname(modelPath), 'weights.bin');
    const bytes = fs.readFileSync(w);
    const copy = path.join(dir, 'tiny2');
    fs.cpSync(path.dirname(modelPath), copy, { recursive: true });
    bytes[10] ^= 1;
    fs.writeFileSync(path.join(copy, 'weights.bin'), bytes);
    const r2 = await client.loadModel({ path: path.join(copy, 'model.json') });
    assert.notStrictEqual(r2.hash, r.hash);
  });

  it('reloads a cached model whose files changed: the new class names and a new hash', async () => {
    const copy = path.join(dir, 'tiny3');
    fs.cpSync(path.dirname(modelPath), copy, { recursive: true });
    const ref = { path: path.join(copy, 'model.json') };
    const r1 = await client.loadModel(ref);
    assert.strictEqual((await client.loadModel(ref)).hash, r1.hash); // unchanged: served from the cache
    const labels = path.join(copy, 'labels.txt');
    fs.writeFileSync(labels, fs.readFileSync(labels, 'utf8').replace('sneaker', 'running shoe'));
    const r2 = await client.loadModel(ref);
    assert.strictEqual(r2.classNames?.[7], 'running shoe');
    assert.notStrictEqual(r2.hash, r1.hash);
    const units = await client.request('units', { model: ref, units: ['logit:running shoe'] }).result;
    assert.deepStrictEqual(units.units.map((u) => u.spec), ['logit:7']);
  });

  it('runs a visualization job with progress and preview PNGs', async () => {
    const progress: Progress[] = [];
    const job = client.visualize({ model: { path: modelPath }, units: ['channel:conv_b:0-1', 'logit:sneaker'], settings, previewEvery: 2 }, (p) => progress.push(p));
    const r = await job.result;
    assert.strictEqual(r.cancelled, false);
    assert.deepStrictEqual(r.units.map((u) => u.spec), ['channel:conv_b:0', 'channel:conv_b:1', 'logit:7']);
    assert.deepStrictEqual(progress.map((p) => p.step), [1, 2, 3, 4, 5, 6]);
    assert.ok(progress.every((p) => p.id === job.id && p.steps === 6 && p.chunks === 1));
    const withPreview = progress.filter((p) => p.previews);
    assert.deepStrictEqual(withPreview.map((p) => p.step), [2, 4, 6]);
    for (const p of withPreview) {
      assert.strictEqual(p.previews!.length, 3);
      const img = decode(p.previews![0]);
      assert.deepStrictEqual([img.width, img.height], [32, 32]);
    }
    for (const u of r.units) {
      const img = decode(u.png);
      assert.deepStrictEqual([img.width, img.height], [32, 32]);
      assert.ok(spread(img) > 5, `${u.spec} image is blank`);
      assert.ok(Number.isFinite(u.activation));
      assert.strictEqual(u.steps, 6);
    }
    // The last preview is the final image (same parameters, same render).
    assert.strictEqual(withPreview[2].previews![0], r.units[0].png);
  });

  it('cancels a running job: it ends early with what exists', async () => {
    let cancelSent: Promise<boolean> | null = null;
    const job = client.visualize({ model: { path: modelPath }, units: ['channel:conv_a:0'], settings: { ...settings, steps: 10000 }, previewEvery: 0 }, (p) => {
      if (p.step === 2 && !cancelSent) cancelSent = client.cancel(job.id);
    });
    const r = await job.result;
    assert.strictEqual(await cancelSent, true);
    assert.strictEqual(r.cancelled, true);
    assert.strictEqual(r.units.length, 1);
    assert.ok(r.units[0].steps >= 2 && r.units[0].steps < 10000);
    assert.strictEqual(await client.cancel(job.id), false, 'a finished job is no longer cancellable');
  });

  it('runs a targeted attack on an image file', async () => {
    const img = createImage(40, 40, 3);
    for (let i = 0; i < img.data.length; i++) img.data[i] = ((i * 7919) % 255) / 255;
    const file = path.join(dir, 'photo.png');
    fs.writeFileSync(file, encodePng(img));
    const progress: Progress[] = [];
    const r = await client.request('attack', { model: { path: modelPath }, images: [file], targets: ['sneaker'], settings: { method: 'pgd', epsilon: 8 / 255, steps: 3, earlyStop: false } }, (p) => progress.push(p)).result;
    assert.strictEqual(r.pairs.length, 1);
    const pair = r.pairs[0];
    assert.strictEqual(pair.target, 7);
    assert.strictEqual(pair.targetName, 'sneaker');
    assert.strictEqual(pair.image, file);
    assert.ok(pair.linf <= 8 / 255 + 1e-6, `linf ${pair.linf}`);
    assert.deepStrictEqual(progress.map((p) => p.step), [1, 2, 3]);
    for (const k of ['original', 'adversarial', 'perturbation'] as const) {
      const png = decode(pair[k]);
      assert.deepStrictEqual([png.width, png.height], [32, 32], k);
    }
    await assert.rejects(client.request('attack', { model: { path: modelPath }, images: [file], targets: ['unicorn'], settings: { method: 'am', epsilon: 0.01, steps: 1 } }).result, /unicorn/);
  });

  it('answers malformed requests with an error naming the field and keeps running', async () => {
    const bad = client.visualize({ model: { path: modelPath }, units: ['channel:conv_b:0'], settings: { ...settings, steps: 'many' as unknown as number }, previewEvery: 0 });
    await assert.rejects(bad.result, /invalid params for visualize: settings\.steps: Expected number, received string/);
    const unknownParam = client.visualize({ model: { path: modelPath }, units: ['channel:conv_b:0'], settings: { ...settings, param: 'wavelet' }, previewEvery: 0 });
    await assert.rejects(unknownParam.result, /unknown parameterization "wavelet" \(expected pixel, fourier[,)]/);
    const unknownLayer = client.visualize({ model: { path: modelPath }, units: ['channel:conv_z:0'], settings, previewEvery: 0 });
    await assert.rejects(unknownLayer.result, /conv_z/);
    await assert.rejects(client.loadModel({ path: path.join(dir, 'missing', 'model.json') }), /model not found/);
    assert.strictEqual((await client.loadModel({ path: modelPath })).description.name, 'tiny');
    assert.strictEqual(client.starts, 1);
  });

  it('fails the running job when the engine is killed, and restarts on the next request', async () => {
    const pid = client.pid!;
    const job = client.visualize({ model: { path: modelPath }, units: ['channel:conv_a:0'], settings: { ...settings, steps: 10000 }, previewEvery: 0 }, (p) => {
      if (p.step === 1) process.kill(pid, 'SIGKILL');
    });
    await assert.rejects(job.result, /The Neuron Lens engine was killed \(SIGKILL\) while running visualize; it will be restarted on the next request/);
    assert.strictEqual(client.running, false);
    assert.deepStrictEqual(exits.at(-1), { code: null, signal: 'SIGKILL', expected: false });
    const r = await client.visualize({ model: { path: modelPath }, units: ['logit:0'], settings: { ...settings, steps: 2 }, previewEvery: 0 }).result;
    assert.strictEqual(r.units.length, 1);
    assert.strictEqual(client.starts, 2);
    assert.notStrictEqual(client.pid, pid);
  });

  it('fails pending requests when the engine exits by itself', async () => {
    await assert.rejects(client.request('crash', { code: 3 }).result, /exited with code 3 while running crash/);
    assert.strictEqual((await client.loadModel({ path: modelPath })).description.layers.length, 6);
    assert.strictEqual(client.starts, 3);
  });
});

describe('EngineClient: cancelling loads, load timeouts, the memory cap and refusals', function () {
  let dir: string;
  let tiny: string;
  let large: string;
  const clients: EngineClient[] = [];
  const make = (o: Partial<ConstructorParameters<typeof EngineClient>[0]> = {}) => {
    const c = new EngineClient({ modulePath: path.join(__dirname, 'main.ts'), execArgv: ['--require', require.resolve('tsx/cjs')], backend: 'wasm', ...o });
    clients.push(c);
    return c;
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-engine-load-'));
    tiny = await writeTinyModel(path.join(dir, 'tiny'));
    large = writeLargeModel(path.join(dir, 'large'), tiny, 48);
  });
  after(() => {
    for (const c of clients) c.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('cancels a model load by restarting the engine, within a second or so, and the next request works', async () => {
    const client = make();
    await client.start();
    const load = client.request('loadModel', { path: large });
    await new Promise((r) => setTimeout(r, 300)); // the engine is parsing the large model.json now
    const t0 = Date.now();
    assert.strictEqual(await client.cancel(load.id), true);
    await assert.rejects(load.result, (e: Error) => isCancelled(e) && /^Neuron Lens: cancelled loading model\.json \(the engine was restarted to stop it\)$/.test(e.message));
    const ms = Date.now() - t0;
    console.log(`      cancel of a blocking load took ${ms} ms`);
    assert.ok(ms < CANCEL_GRACE_MS + 2000, `cancel took ${ms} ms`);
    assert.strictEqual(client.running, false);
    assert.strictEqual((await client.loadModel({ path: tiny })).description.name, 'tiny');
    assert.strictEqual(client.starts, 2);
  });

  it('cancels a job that waits for its model to load, and a request that needs no waiting at once', async () => {
    const client = make();
    await client.start();
    const job = client.visualize({ model: { path: large }, units: ['logit:0'], settings, previewEvery: 0 });
    await new Promise((r) => setTimeout(r, 300));
    assert.strictEqual(await client.cancel(job.id), true);
    await assert.rejects(job.result, (e: Error) => isCancelled(e) && /cancelled loading model\.json/.test(e.message));
    await client.loadModel({ path: tiny });
    const units = client.request('units', { model: { path: tiny }, units: ['logit:0-9'] });
    assert.strictEqual(await client.cancel(units.id), true);
    await assert.rejects(units.result, (e: Error) => isCancelled(e) && e.message === 'Neuron Lens: units cancelled');
    assert.strictEqual(client.starts, 2, 'cancelling a quick request does not restart the engine');
    assert.strictEqual(await client.cancel(units.id), false);
  });

  it('fails a load that takes longer than the timeout, naming the setting, and restarts the engine', async () => {
    const client = make({ loadTimeoutMs: 300 });
    await assert.rejects(client.loadModel({ path: large }), new RegExp(`^Error: Neuron Lens: loading ${large.replace(/[.\\/]/g, '\\$&')} took longer than 0\\.3 s \\(setting neuronLens\\.loadTimeoutSeconds\\); the engine was restarted$`));
    assert.strictEqual((await client.loadModel({ path: tiny })).description.name, 'tiny');
    assert.strictEqual(client.starts, 2);
  });

  it('caps the engine heap: a model that needs more fails with the cap and the setting, and the engine restarts', async () => {
    const exits: { outOfMemory?: boolean; expected: boolean }[] = [];
    const client = make({ memoryMB: 160, onExit: (e) => exits.push(e) });
    assert.strictEqual((await client.loadModel({ path: tiny })).description.name, 'tiny', 'the engine runs in 160 MB');
    await assert.rejects(client.loadModel({ path: large }), (e: Error) => {
      console.log(`      ${e.message}`);
      return /^Neuron Lens: the engine ran out of memory while running loadModel: the model needs more memory than 160 MB \(setting neuronLens\.engineMemoryMB\)$/.test(e.message);
    });
    assert.deepStrictEqual(exits.map((e) => [e.outOfMemory, e.expected]), [[true, false]]);
    assert.strictEqual((await client.loadModel({ path: tiny })).description.name, 'tiny');
    assert.strictEqual(client.starts, 2);
  });

  it('refuses requests for the models `refuse` names, without starting the engine', async () => {
    const client = make({ refuse: (p) => (p === large ? `${p} is not trusted` : undefined) });
    await assert.rejects(client.loadModel({ path: large }), new RegExp(`${path.basename(dir)}/large/model\\.json is not trusted`));
    await assert.rejects(client.visualize({ model: { path: large }, units: ['logit:0'], settings, previewEvery: 0 }).result, /is not trusted/);
    assert.strictEqual(client.starts, 0);
    assert.strictEqual((await client.loadModel({ path: tiny })).description.name, 'tiny');
  });
});
