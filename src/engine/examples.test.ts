// The examples request against a real engine child process.
import * as assert from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { EngineClient } from './client';
import type { Progress } from './protocol';
import { writeTinyModel } from './testing';
import { decodeImage } from '../core/image';
import { writeFashionPngs } from '../core/testing/fashion';

describe('engine: examples', () => {
  let dir: string;
  let modelPath: string;
  let images: string;
  let client: EngineClient;
  const warnings: string[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-engine-examples-'));
    modelPath = await writeTinyModel(path.join(dir, 'tiny'));
    images = path.join(dir, 'images');
    writeFashionPngs(images, 300);
    fs.writeFileSync(path.join(images, 'bad.png'), 'x');
    client = new EngineClient({
      modulePath: path.join(__dirname, 'main.ts'), execArgv: ['--require', require.resolve('tsx/cjs')], backend: 'wasm',
      onLog: (level, m) => { if (level === 'warn') warnings.push(m); },
    });
  });
  after(() => {
    client.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('cancels keeping the index; the next request resumes and answers each unit with heatmaps', async () => {
    const out = path.join(dir, 'out');
    const params = { model: { path: modelPath }, images, units: ['channel:conv_b:0-1', 'logit:3'], settings: { top: 3, batch: 4 }, out };
    const job = client.request('examples', params, (p) => { if (p.step >= 8) void client.cancel(job.id); });
    const first = await job.result;
    assert.deepStrictEqual(first, { units: [], cancelled: true });
    const progress: Progress[] = [];
    const r = await client.request('examples', { ...params, settings: { top: 3, bottom: 1 } }, (p) => progress.push(p)).result;
    assert.strictEqual(r.cancelled, false);
    assert.ok(progress[0].steps > 0 && progress[0].steps < 301, `resumed with ${progress[0].steps} of 301 images left`);
    assert.deepStrictEqual(r.units.map((u) => [u.unit, u.statistic, u.top.length, u.bottom.length]), [['channel:conv_b:0', 'mean', 3, 1], ['channel:conv_b:1', 'mean', 3, 1], ['logit:3', 'mean', 3, 1]]);
    const heat = decodeImage(Buffer.from(r.units[0].top[0].heatmapPng, 'base64'), 'heatmap');
    assert.deepStrictEqual([heat.width, heat.height], [128, 128]);
    assert.ok(r.units[0].top[0].activation >= r.units[0].top[2].activation);
    assert.ok(warnings.some((w) => /skipped bad\.png/.test(w)), warnings.join('\n'));
  });

  it('answers a bad folder with a clear error', async () => {
    await assert.rejects(client.request('examples', { model: { path: modelPath }, images: path.join(dir, 'none'), units: ['logit:0'], settings: {}, out: path.join(dir, 'o2') }).result,
      /examples: the image folder .*none does not exist/);
  });
});
