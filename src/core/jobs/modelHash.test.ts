// The model hash covers every file a model was read from: ONNX external data and %-encoded shard paths included.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { initBackend } from '../backend';
import { embeddedModelPath, loadModel } from '../model';
import { FLOAT, ints, node, rand, writeModel } from '../model/onnx/test_graphs';
import { hashModel } from './modelHash';

/** Loads `file`, hashes it, and disposes it. */
async function hashOf(file: string): Promise<string> {
  const m = await loadModel(file);
  m.dispose();
  return hashModel(m);
}

/** Flips one byte of `file` in place. */
function flip(file: string, at: number): void {
  const b = fs.readFileSync(file);
  b[at] ^= 1;
  fs.writeFileSync(file, b);
}

describe('hashModel', () => {
  let dir: string;
  before(async () => { await initBackend('cpu'); });
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-hash-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('follows ONNX external data, the sidecar, and is the same for the same bytes', async () => {
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.from(new Float32Array(rand(9, 1)).buffer));
    const w = { name: 'w', dims: [3, 3, 1, 1], dataType: FLOAT, dataLocation: 1, externalData: [{ key: 'location', value: 'w.bin' }] };
    const f = writeModel(dir, 'm.onnx', [node('Conv', ['input', 'w'], ['out'], [ints('kernel_shape', [1, 1])])], [w], [3, 2, 2], ['out']);
    const h1 = await hashOf(f);
    assert.match(h1, /^[0-9a-f]{64}$/);
    assert.equal(await hashOf(f), h1);
    flip(path.join(dir, 'w.bin'), 5);
    const h2 = await hashOf(f);
    assert.notEqual(h2, h1);
    fs.writeFileSync(path.join(dir, 'neuron-lens.json'), '{"inputRange": [0, 255]}');
    assert.notEqual(await hashOf(f), h2);
  });

  it('follows a %-encoded weight shard path of a TF.js manifest', async () => {
    const src = path.dirname(embeddedModelPath('fashion_cnn'));
    for (const f of fs.readdirSync(src)) fs.copyFileSync(path.join(src, f), path.join(dir, f));
    const mj = path.join(dir, 'model.json');
    const j = JSON.parse(fs.readFileSync(mj, 'utf8'));
    const shard: string = j.weightsManifest[0].paths[0];
    fs.renameSync(path.join(dir, shard), path.join(dir, `my ${shard}`));
    j.weightsManifest[0].paths[0] = `my%20${shard}`;
    fs.writeFileSync(mj, JSON.stringify(j));
    const h1 = await hashOf(mj);
    flip(path.join(dir, `my ${shard}`), 100);
    assert.notEqual(await hashOf(mj), h1);
  });
});
