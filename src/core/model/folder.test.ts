// The model folder promise on generated bad inputs: no file outside the folder is read (by `..` or by a symbolic
// link), duplicate weight names and shared bytes are refused, only the bytes a model declares are read, and sizes
// are checked before anything is allocated.
import { strict as assert } from 'assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend } from '../backend';
import { loadModel } from './index';
import { FLOAT, ints, node, rand, writeModel } from './onnx/test_graphs';

const SECRET = 'OUTSIDE-SECRET-TEXT';

/** A layers model.json (3x3 conv to 4 channels, global pooling, dense logits) with weights.bin and labels.txt. */
async function writeTinyModel(dir: string): Promise<void> {
  const m = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 4, kernelSize: 3, name: 'conv' }),
      tfl.layers.globalAveragePooling2d({ name: 'pool' }),
      tfl.layers.dense({ units: 3, name: 'logits' }),
    ],
  });
  await m.save(tf.io.withSaveHandler(async (a) => {
    fs.writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(a.weightData as ArrayBuffer));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  m.dispose();
  fs.writeFileSync(path.join(dir, 'labels.txt'), 'a\nb\nc\n');
}

/** Bytes read by this process so far (Linux: /proc/self/io `rchar`). */
function bytesRead(): number {
  return Number(/rchar: (\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))![1]);
}

describe('model folder: files outside the folder, shared bytes and sizes', function () {
  this.timeout(60000);
  let root: string;
  let dir: string;
  let outside: string;
  before(async () => { await initBackend('cpu'); });
  beforeEach(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-folder-'));
    dir = path.join(root, 'model');
    outside = path.join(root, 'outside');
    fs.mkdirSync(dir);
    fs.mkdirSync(outside);
    await writeTinyModel(dir);
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  const modelJson = () => path.join(dir, 'model.json');
  const editJson = (f: (j: any) => void) => {
    const j = JSON.parse(fs.readFileSync(modelJson(), 'utf8'));
    f(j);
    fs.writeFileSync(modelJson(), JSON.stringify(j));
  };
  /** Rejects, names `file`, matches `re`, and never shows the outside file's text. */
  const refused = async (re: RegExp) => {
    let msg = '';
    await assert.rejects(loadModel(dir), (e: Error) => { msg = e.message; return true; });
    assert.match(msg, re);
    assert.ok(!msg.includes(SECRET), msg);
    return msg;
  };

  it('records every file it read, with sizes: the model identity', async () => {
    const m = await loadModel(dir);
    m.dispose();
    assert.deepEqual(m.files.map((f) => path.basename(f.path)), ['model.json', 'weights.bin', 'labels.txt']);
    assert.equal(m.files[1].size, fs.statSync(path.join(dir, 'weights.bin')).size);
    assert.match(m.files[1].sha256, /^[0-9a-f]{64}$/);
  });

  it('a weight shard that is a symbolic link out of the folder is not read', async () => {
    fs.renameSync(path.join(dir, 'weights.bin'), path.join(outside, 'weights.bin'));
    fs.symlinkSync(path.join(outside, 'weights.bin'), path.join(dir, 'weights.bin'));
    await refused(/model\.json: weight shard "weights\.bin" is a symbolic link .* outside the model folder/);
  });

  it('a folder on the way that is a symbolic link out of the folder is not followed', async () => {
    fs.renameSync(path.join(dir, 'weights.bin'), path.join(outside, 'weights.bin'));
    fs.symlinkSync(outside, path.join(dir, 'sub'));
    editJson((j) => { j.weightsManifest[0].paths = ['sub/weights.bin']; });
    await refused(/weight shard "sub\/weights\.bin" is a symbolic link \(or lies under one\) to .*outside\/weights\.bin, outside the model folder/);
    editJson((j) => { j.weightsManifest[0].paths = ['sub%2Fweights.bin']; }); // %-encoded
    await refused(/weight shard "sub\/weights\.bin" is a symbolic link/);
  });

  it('labels.txt linked out of the folder is refused and its text never shows', async () => {
    fs.writeFileSync(path.join(outside, 'secret.txt'), `${SECRET}\n${SECRET}\n${SECRET}\n`);
    fs.rmSync(path.join(dir, 'labels.txt'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'labels.txt'));
    await refused(/model\.json: labels file "labels\.txt" is a symbolic link .* outside the model folder/);
  });

  it('a JSON or text file over 64 MiB is refused unread (a sparse 1 GB labels.txt, a 700 MB model.json)', async () => {
    fs.truncateSync(path.join(dir, 'labels.txt'), 2 ** 30);
    await refused(/labels\.txt: a labels file of 1073741824 bytes is larger than the 64 MiB a JSON or text file of a model may be; it is not read$/);
    fs.writeFileSync(path.join(dir, 'labels.txt'), 'a\n');
    fs.truncateSync(modelJson(), 7e8);
    await refused(/model\.json: a model file of 700000000 bytes is larger than the 64 MiB/);
  });

  it('links inside the folder are followed', async () => {
    fs.renameSync(path.join(dir, 'weights.bin'), path.join(dir, 'real.bin'));
    fs.symlinkSync('real.bin', path.join(dir, 'weights.bin'));
    const m = await loadModel(dir);
    m.dispose();
    assert.deepEqual(m.classNames, ['a', 'b', 'c']);
  });

  it('a Hugging Face hub snapshot: links into the repository\'s blobs/ are followed, links elsewhere are not', async () => {
    const repo = path.join(root, 'models--org--tiny');
    const snap = path.join(repo, 'snapshots', 'abc123');
    fs.mkdirSync(path.join(repo, 'blobs'), { recursive: true });
    fs.mkdirSync(snap, { recursive: true });
    for (const f of ['model.json', 'weights.bin', 'labels.txt']) {
      fs.renameSync(path.join(dir, f), path.join(repo, 'blobs', `sha-${f}`));
      fs.symlinkSync(path.join('..', '..', 'blobs', `sha-${f}`), path.join(snap, f));
    }
    const m = await loadModel(snap);
    m.dispose();
    assert.deepEqual(m.classNames, ['a', 'b', 'c']);
    fs.writeFileSync(path.join(outside, 'secret.txt'), SECRET);
    fs.rmSync(path.join(snap, 'labels.txt'));
    fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(snap, 'labels.txt'));
    await assert.rejects(loadModel(snap), (e: Error) => /labels file "labels\.txt" is a symbolic link .* outside the model folder/.test(e.message) && !e.message.includes(SECRET));
  });

  it('a shard that is a named pipe is refused at once (no blocking open)', async function () {
    fs.rmSync(path.join(dir, 'weights.bin'));
    require('child_process').execFileSync('mkfifo', [path.join(dir, 'weights.bin')]);
    const t0 = Date.now();
    await refused(/weights\.bin: it is a named pipe \(FIFO\), not a regular file/);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('a weight listed twice is refused, naming the file and the weight', async () => {
    editJson((j) => { j.weightsManifest[0].weights[1].name = j.weightsManifest[0].weights[0].name; });
    await refused(/model\.json: weight "conv\/kernel" is listed twice in the weights manifest/);
  });

  it('two groups on the same shard bytes are refused, naming the file and both weights', async () => {
    editJson((j) => {
      const g = j.weightsManifest[0];
      j.weightsManifest.push({ paths: g.paths, weights: g.weights.map((w: any) => ({ ...w, name: `copy/${w.name}` })) });
    });
    await refused(/weights\.bin: bytes 0-\d+ belong to both weight "conv\/kernel" and weight "copy\/conv\/kernel"/);
  });

  it('4000 groups reusing one shard are refused before reading them', async () => {
    editJson((j) => {
      const g = j.weightsManifest[0];
      j.weightsManifest = Array.from({ length: 4000 }, (_, i) => ({ paths: g.paths, weights: g.weights.map((w: any) => ({ ...w, name: `g${i}/${w.name}` })) }));
    });
    const t0 = Date.now();
    await refused(/belong to both weight "g0\/conv\/kernel" and weight "g1\/conv\/kernel"/);
    console.log(`      4000 groups on one shard refused in ${Date.now() - t0} ms`);
  });

  it('a sparse 1.9 GB shard is read only as far as the manifest needs', async function () {
    const w = path.join(dir, 'weights.bin');
    const need = fs.statSync(w).size;
    fs.truncateSync(w, 1.9e9); // sparse: no disk used
    const before = bytesRead();
    const t0 = Date.now();
    const m = await loadModel(dir);
    const ms = Date.now() - t0;
    const read = bytesRead() - before;
    m.dispose();
    console.log(`      sparse 1.9 GB shard: ${read} bytes read in ${ms} ms (the manifest needs ${need})`);
    assert.ok(read < 10e6, `${read} bytes read`);
  });

  it('a huge input shape is refused before anything is allocated, naming the limit', async () => {
    editJson((j) => { j.modelTopology.config.layers[0].config.batch_input_shape = [null, 30000, 30000, 3]; });
    const t0 = Date.now();
    const msg = await refused(/model\.json: the input image 30000x30000x3 has 2700000000 values, over the limit of 4194304 values \(set the environment variable NEURON_LENS_MAX_INPUT_VALUES to raise it\)/);
    console.log(`      30000x30000 input refused in ${Date.now() - t0} ms: ${msg}`);
  });

  it('the model byte budget is checked before reading, and its environment variable raises it', async () => {
    const max = fs.statSync(modelJson()).size + 100; // model.json fits, the weights do not
    process.env.NEURON_LENS_MAX_MODEL_BYTES = String(max);
    try {
      await refused(new RegExp(`model\\.json: weights: the model needs \\d+ bytes in memory, over the limit of ${max} bytes \\(set the environment variable NEURON_LENS_MAX_MODEL_BYTES to raise it\\)`));
      process.env.NEURON_LENS_MAX_MODEL_BYTES = 'lots';
      await refused(/NEURON_LENS_MAX_MODEL_BYTES="lots" is not a positive whole number of bytes/);
    } finally {
      delete process.env.NEURON_LENS_MAX_MODEL_BYTES;
    }
  });

  describe('ONNX external data', () => {
    const conv = [node('Conv', ['input', 'w'], ['out'], [ints('kernel_shape', [1, 1])])];
    const ext = (name: string, loc: string, offset: number) => ({
      name, dims: [3, 3, 1, 1], dataType: FLOAT, dataLocation: 1,
      externalData: [{ key: 'location', value: loc }, { key: 'offset', value: String(offset) }, { key: 'length', value: '36' }],
    });
    const load = async (inits: object[], re: RegExp) => {
      const f = writeModel(dir, 'm.onnx', conv, inits, [3, 2, 2], ['out']);
      await assert.rejects(loadModel(f), (e: Error) => re.test(e.message) && !e.message.includes(SECRET));
    };

    it('an external data file linked out of the folder is refused', async () => {
      fs.writeFileSync(path.join(outside, 'w.bin'), Buffer.concat([Buffer.from(new Float32Array(rand(9, 1)).buffer), Buffer.from(SECRET)]));
      fs.symlinkSync(path.join(outside, 'w.bin'), path.join(dir, 'w.bin'));
      await load([ext('w', 'w.bin', 0)], /m\.onnx: initializer w: external data "w\.bin" is a symbolic link .* outside the model folder/);
    });

    it('an input over the input limit is refused before the dry run', async () => {
      const f = writeModel(dir, 'big.onnx', [node('Relu', ['input'], ['out'])], [], [3, 30000, 30000], ['out']);
      await assert.rejects(loadModel(f), /big\.onnx: the input image 30000x30000x3 has 2700000000 values, over the limit of 4194304 values/);
    });

    it('an attribute tensor in external data is read once, however often its node runs', async () => {
      fs.writeFileSync(path.join(dir, 'v.bin'), Buffer.from(new Float32Array([0.5]).buffer));
      const value = { name: 'value', type: 4, t: { name: 'v', dims: [1], dataType: FLOAT, dataLocation: 1, externalData: [{ key: 'location', value: 'v.bin' }] } };
      const nodes = [node('Shape', ['input'], ['s']), node('ConstantOfShape', ['s'], ['c'], [value as any]), node('Add', ['input', 'c'], ['out'])];
      const m = await loadModel(writeModel(dir, 'attr.onnx', nodes, [], [3, 2, 2], ['out']));
      try {
        for (let i = 0; i < 3; i++) {
          const [y] = m.tap(['out'], tf.zeros([1, 2, 2, 3]));
          assert.deepEqual(Array.from(y.dataSync()), new Array(12).fill(0.5));
          y.dispose();
        }
      } finally {
        m.dispose();
      }
    });

    it('initializers sharing external bytes, or listed twice, are refused', async () => {
      fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.alloc(64));
      const shared = [ext('w', 'w.bin', 0), ...Array.from({ length: 9 }, (_, i) => ext(`w${i}`, 'w.bin', 4))];
      await load(shared, /w\.bin: bytes 4-36 belong to both tensor "w" and tensor "w0"/);
      await load([ext('w', 'w.bin', 0), ext('w', 'w.bin', 28)], /m\.onnx: initializer "w" is listed twice/);
    });
  });
});
