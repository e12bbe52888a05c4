// The bad-input corpus: every case is a small folder written at test time and one command line. The classes
// are those of issue 12 (symlinks, special files, memory bombs from tiny files, silently accepted models,
// unclear errors, --out, CLI numbers) and more: truncated and corrupt files of every kind, wrong dtypes,
// non-finite and deep JSON, negative and huge dimensions, bad images and unit specs.
import type { Case, Entry, Expect } from './harness';
import {
  attrInt, attrInts, cnnWeights, h5Bytes, fashionCnn, hfVit, jpg, jpgDeclaring, keras3Config, keras3Weights, kerasZip, legacyH5, loadH5,
  onnxFloat, onnxInt64, onnxModel, onnxNode, onnxWithConstant, png, pngDeclaring, safetensors, splitSafetensors, tinyOnnxParts,
} from './models';

type Files = Record<string, Entry>;

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x));

/** Text that is not the JSON a reader expects, by name. */
const BAD_JSON: Record<string, string | Uint8Array> = {
  empty: '',
  'open-brace': '{',
  null: 'null',
  array: '[]',
  number: '42',
  string: '"model"',
  'nan-literal': '{"a": NaN}',
  'infinity-literal': '{"a": Infinity}',
  'deep-nesting': '['.repeat(200000),
  'deep-object': '{"a":'.repeat(50000) + '1' + '}'.repeat(50000),
  'binary-garbage': Uint8Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 255),
  'utf16': Buffer.from('\ufeff{"modelTopology": {}}', 'utf16le'),
  'huge-number': '{"a": 1e400}',
};

export async function buildCases(): Promise<Case[]> {
  const cases: Case[] = [];
  const add = (id: string, cls: string, files: Files, args: string[], expect: Expect = 'error') => cases.push({ id, cls, files, args, expect });

  // ---------------------------------------------------------------- TF.js layers model (the embedded CNN)
  const cnn = fashionCnn();
  const cnnFiles = (json: any = cnn.json, extra: Files = {}): Files => ({ 'model.json': JSON.stringify(json), 'weights.bin': cnn.shard, ...extra });
  const mut = (f: (j: any) => void): any => { const j = clone(cnn.json); f(j); return j; };
  const layers = (j: any): any[] => j.modelTopology.config.layers;
  const layer = (j: any, name: string): any => layers(j).find((l) => l.name === name);
  const describe = ['describe', '{m}'];
  const describeJson = ['describe', '{m}', '--json'];
  const vis = (...more: string[]) => ['visualize', '{m}', '--unit', 'logit:0', '--steps', '2', ...more];
  const photo = png(32, 32);
  const attack = (...more: string[]) => ['attack', '{m}', '--image', '{m}/photo.png', '--target', '1', '--steps', '2', ...more];

  add('tfjs/valid-describe', 'valid', cnnFiles(), describeJson, 'ok');
  add('tfjs/valid-visualize', 'valid', cnnFiles(), vis('--json'), 'ok');
  add('tfjs/valid-attack', 'valid', cnnFiles(cnn.json, { 'photo.png': photo }), attack('--json'), 'ok');
  add('tfjs/valid-attack-jpeg', 'valid', cnnFiles(cnn.json, { 'photo.jpg': jpg(40, 30) }), ['attack', '{m}', '--image', '{m}/photo.jpg', '--target', '1', '--steps', '1'], 'ok');

  // Valid JSON of another shape: labels.json and metadata.json without labels are ignored; neuron-lens.json must be an object.
  const parsable = (t: string | Uint8Array) => { try { JSON.parse(typeof t === 'string' ? t : Buffer.from(t).toString('utf8')); return true; } catch { return false; } };
  for (const [name, text] of Object.entries(BAD_JSON)) {
    add(`tfjs/model.json-${name}`, 'corrupt json', { 'model.json': text, 'weights.bin': cnn.shard }, describe);
    add(`sidecar/neuron-lens.json-${name}`, 'corrupt json', cnnFiles(cnn.json, { 'neuron-lens.json': text }), describe, /deep-object|huge-number/.test(name) ? 'any' : 'error');
    add(`labels/metadata.json-${name}`, 'corrupt json', cnnFiles(cnn.json, { 'metadata.json': text }), describe, parsable(text) ? 'any' : 'error');
    add(`labels/labels.json-${name}`, 'corrupt json', cnnFiles(cnn.json, { 'labels.json': text }), describe, parsable(text) ? 'any' : 'error');
  }
  const text = JSON.stringify(cnn.json);
  for (const frac of [0, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99]) {
    add(`tfjs/model.json-truncated-${frac}`, 'truncated', { 'model.json': text.slice(0, Math.floor(text.length * frac)), 'weights.bin': cnn.shard }, describe);
  }
  for (const frac of [0, 0.001, 0.5, 0.999]) {
    add(`tfjs/shard-truncated-${frac}`, 'truncated', { 'model.json': text, 'weights.bin': cnn.shard.subarray(0, Math.floor(cnn.shard.length * frac)) }, describe);
  }
  add('tfjs/shard-extra-bytes', 'corrupt', { 'model.json': text, 'weights.bin': Buffer.concat([cnn.shard, Buffer.alloc(1000)]) }, describe, 'any');
  add('tfjs/shard-missing', 'corrupt', { 'model.json': text }, describe);
  add('tfjs/shard-is-folder', 'special files', { 'model.json': text, 'weights.bin': { dir: true } }, describe);
  add('tfjs/shard-nan-weights', 'corrupt', { 'model.json': text, 'weights.bin': Buffer.alloc(cnn.shard.length, 0xff) }, vis(), 'any');

  // the manifest
  const manifest: Record<string, (j: any) => void> = {
    'weightsManifest-null': (j) => { j.weightsManifest = null; },
    'weightsManifest-object': (j) => { j.weightsManifest = {}; },
    'weightsManifest-missing': (j) => { delete j.weightsManifest; },
    'group-null': (j) => { j.weightsManifest = [null]; },
    'group-number': (j) => { j.weightsManifest = [7]; },
    'paths-null': (j) => { j.weightsManifest[0].paths = null; },
    'paths-string': (j) => { j.weightsManifest[0].paths = 'weights.bin'; },
    'paths-number': (j) => { j.weightsManifest[0].paths = [42]; },
    'paths-empty': (j) => { j.weightsManifest[0].paths = []; },
    'path-uri-malformed': (j) => { j.weightsManifest[0].paths = ['%E0%A4%A']; },
    'path-percent-encoded-dotdot': (j) => { j.weightsManifest[0].paths = ['%2e%2e/outside/weights.bin']; },
    'path-absolute': (j) => { j.weightsManifest[0].paths = ['/etc/passwd']; },
    'path-dotdot': (j) => { j.weightsManifest[0].paths = ['../outside/weights.bin']; },
    'path-url': (j) => { j.weightsManifest[0].paths = ['http://example.com/weights.bin']; },
    'path-file-url': (j) => { j.weightsManifest[0].paths = ['file:///etc/passwd']; },
    'path-empty-string': (j) => { j.weightsManifest[0].paths = ['']; },
    'path-dot': (j) => { j.weightsManifest[0].paths = ['.']; },
    'path-nul-byte': (j) => { j.weightsManifest[0].paths = ['weights.bin\u0000.txt']; },
    'path-model.json': (j) => { j.weightsManifest[0].paths = ['model.json']; },
    'weights-null': (j) => { j.weightsManifest[0].weights = null; },
    'weights-entry-null': (j) => { j.weightsManifest[0].weights[0] = null; },
    'weights-entry-string': (j) => { j.weightsManifest[0].weights[3] = 'conv1/bias'; },
    'shape-string': (j) => { j.weightsManifest[0].weights[0].shape = 'abc'; },
    'shape-null': (j) => { j.weightsManifest[0].weights[0].shape = null; },
    'shape-missing': (j) => { delete j.weightsManifest[0].weights[0].shape; },
    'shape-negative': (j) => { j.weightsManifest[0].weights[0].shape = [-3, 3, 1, 32]; },
    'shape-fraction': (j) => { j.weightsManifest[0].weights[0].shape = [1.5, 3, 1, 32]; },
    'shape-string-dims': (j) => { j.weightsManifest[0].weights[0].shape = ['3', '3', '1', '32']; },
    'shape-null-dim': (j) => { j.weightsManifest[0].weights[0].shape = [null, 3, 1, 32]; },
    'shape-huge': (j) => { j.weightsManifest[0].weights[0].shape = [1e9, 1e9]; },
    'shape-4.8GB': (j) => { j.weightsManifest[0].weights[0].shape = [1200000000]; },
    'shape-2^53': (j) => { j.weightsManifest[0].weights[0].shape = [2 ** 53]; },
    'shape-rank-100': (j) => { j.weightsManifest[0].weights[0].shape = Array(100).fill(1); },
    'dtype-float16': (j) => { j.weightsManifest[0].weights[0].dtype = 'float16'; },
    'dtype-int64': (j) => { j.weightsManifest[0].weights[0].dtype = 'int64'; },
    'dtype-string': (j) => { j.weightsManifest[0].weights[0].dtype = 'string'; },
    'dtype-complex64': (j) => { j.weightsManifest[0].weights[0].dtype = 'complex64'; },
    'dtype-number': (j) => { j.weightsManifest[0].weights[0].dtype = 5; },
    'dtype-int32': (j) => { j.weightsManifest[0].weights[0].dtype = 'int32'; },
    'name-missing': (j) => { delete j.weightsManifest[0].weights[0].name; },
    'name-number': (j) => { j.weightsManifest[0].weights[0].name = 42; },
    'name-duplicated-same-shape': (j) => { const w = j.weightsManifest[0].weights; w[3].name = w[2].name; },
    'weight-missing': (j) => { j.weightsManifest[0].weights.pop(); },
    'weight-extra': (j) => { j.weightsManifest[0].weights.push({ name: 'extra/w', shape: [4], dtype: 'float32' }); },
    'quantization-no-scale': (j) => { j.weightsManifest[0].weights[0].quantization = { dtype: 'uint8' }; },
    'quantization-int4': (j) => { j.weightsManifest[0].weights[0].quantization = { dtype: 'int4', scale: 1, min: 0 }; },
    'quantization-scale-nan': (j) => { j.weightsManifest[0].weights[0].quantization = { dtype: 'uint8', scale: null, min: 0 }; },
    'quantization-string': (j) => { j.weightsManifest[0].weights[0].quantization = 'uint8'; },
    'groups-4000-reuse-shard': (j) => { j.weightsManifest = Array.from({ length: 4000 }, (_, i) => ({ paths: ['weights.bin'], weights: i === 0 ? j.weightsManifest[0].weights : [] })); },
    'groups-4000-reuse-shard-weights': (j) => { j.weightsManifest = Array.from({ length: 4000 }, (_, i) => ({ paths: ['weights.bin'], weights: j.weightsManifest[0].weights.map((w: any) => ({ ...w, name: `${w.name}_${i}` })) })); },
    'paths-repeated': (j) => { j.weightsManifest[0].paths = Array(5000).fill('weights.bin'); },
  };
  // Shards read once however many groups name them, and int32 weights, may be accepted.
  const acceptable = /groups-4000-reuse-shard$|paths-repeated|dtype-int32/;
  for (const [name, f] of Object.entries(manifest)) add(`tfjs/manifest-${name}`, /dotdot|absolute|url|nul/.test(name) ? 'symlinks and paths' : /duplicated/.test(name) ? 'silently accepted' : /huge|GB|4000|repeated|2\^53/.test(name) ? 'memory bombs' : 'unclear errors', cnnFiles(mut(f)), describe, acceptable.test(name) ? 'any' : 'error');

  // the topology
  const topo: Record<string, (j: any) => void> = {
    'modelTopology-null': (j) => { j.modelTopology = null; },
    'modelTopology-string': (j) => { j.modelTopology = 'x'; },
    'modelTopology-array': (j) => { j.modelTopology = []; },
    'config-null': (j) => { j.modelTopology.config = null; },
    'layers-null': (j) => { j.modelTopology.config.layers = null; },
    'layers-object': (j) => { j.modelTopology.config.layers = {}; },
    'layers-empty': (j) => { j.modelTopology.config.layers = []; },
    'layer-null': (j) => { j.modelTopology.config.layers[2] = null; },
    'layer-config-null': (j) => { layers(j)[1].config = null; },
    'class-unknown': (j) => { layers(j)[1].class_name = 'FancyConv'; },
    'class-lambda': (j) => { layers(j)[1].class_name = 'Lambda'; layers(j)[1].config.function = ['4wEAAAAAAAAA', null, null]; },
    'class-null': (j) => { layers(j)[1].class_name = null; },
    'class-proto': (j) => { layers(j)[1].class_name = '__proto__'; },
    'class-constructor': (j) => { layers(j)[1].class_name = 'constructor'; },
    'input-30000x30000': (j) => { layers(j)[0].config.batch_input_shape = [null, 30000, 30000, 1]; },
    'input-1e6x1e6x1e3': (j) => { layers(j)[0].config.batch_input_shape = [null, 1e6, 1e6, 1000]; },
    'input-negative': (j) => { layers(j)[0].config.batch_input_shape = [null, -5, 28, 1]; },
    'input-zero': (j) => { layers(j)[0].config.batch_input_shape = [null, 0, 0, 1]; },
    'input-rank3': (j) => { layers(j)[0].config.batch_input_shape = [null, 28, 28]; },
    'input-strings': (j) => { layers(j)[0].config.batch_input_shape = ['a', 'b', 'c', 'd']; },
    'input-fraction': (j) => { layers(j)[0].config.batch_input_shape = [null, 28.5, 28, 1]; },
    'input-null-dims': (j) => { layers(j)[0].config.batch_input_shape = [null, null, null, 1]; },
    'input-missing': (j) => { delete layers(j)[0].config.batch_input_shape; },
    'input-batch-64': (j) => { layers(j)[0].config.batch_input_shape = [64, 28, 28, 1]; },
    'filters-zero': (j) => { layer(j, 'conv1').config.filters = 0; },
    'filters-negative': (j) => { layer(j, 'conv1').config.filters = -3; },
    'filters-1e9': (j) => { layer(j, 'conv1').config.filters = 1e9; },
    'filters-string': (j) => { layer(j, 'conv1').config.filters = 'many'; },
    'kernel-zero': (j) => { layer(j, 'conv1').config.kernel_size = [0, 0]; },
    'kernel-huge': (j) => { layer(j, 'conv1').config.kernel_size = [100, 100]; },
    'kernel-null': (j) => { layer(j, 'conv1').config.kernel_size = null; },
    'strides-zero': (j) => { layer(j, 'conv1').config.strides = [0, 0]; },
    'strides-negative': (j) => { layer(j, 'conv1').config.strides = [-1, -1]; },
    'dilation-zero': (j) => { layer(j, 'conv1').config.dilation_rate = [0, 0]; },
    'padding-weird': (j) => { layer(j, 'conv1').config.padding = 'sideways'; },
    'activation-unknown': (j) => { layer(j, 'conv1_relu').config.activation = 'evil'; },
    'activation-object': (j) => { layer(j, 'conv1_relu').config.activation = { class_name: 'Custom', config: {} }; },
    'data-format-channels-first': (j) => { layer(j, 'conv1').config.data_format = 'channels_first'; },
    'pool-zero': (j) => { layer(j, 'pool1').config.pool_size = [0, 0]; },
    'pool-huge': (j) => { layer(j, 'pool1').config.pool_size = [1000, 1000]; },
    'dense-units-zero': (j) => { layer(j, 'logits').config.units = 0; },
    'bn-epsilon-negative': (j) => { layer(j, 'conv1_bn').config.epsilon = -1; },
    'bn-axis-99': (j) => { layer(j, 'conv1_bn').config.axis = 99; },
    'inbound-unknown-layer': (j) => { layer(j, 'conv2').inbound_nodes = [[['nowhere', 0, 0, {}]]]; },
    'inbound-self-cycle': (j) => { layer(j, 'conv2').inbound_nodes = [[['conv2', 0, 0, {}]]]; },
    'inbound-cycle': (j) => { layer(j, 'conv1').inbound_nodes = [[['conv2', 0, 0, {}]]]; },
    'inbound-null': (j) => { layer(j, 'conv2').inbound_nodes = null; },
    'inbound-string': (j) => { layer(j, 'conv2').inbound_nodes = 'conv1'; },
    'inbound-node-index-9': (j) => { layer(j, 'conv2').inbound_nodes = [[['pool1', 9, 9, {}]]]; },
    'input-layers-empty': (j) => { j.modelTopology.config.input_layers = []; },
    'output-layers-unknown': (j) => { j.modelTopology.config.output_layers = [['nowhere', 0, 0]]; },
    'output-layers-null': (j) => { j.modelTopology.config.output_layers = null; },
    'two-layers-same-name': (j) => { layer(j, 'conv2_relu').name = 'conv1_relu'; layer(j, 'conv2_relu')?.config && (layers(j)[7].config.name = 'conv1_relu'); },
    'layer-name-100k': (j) => { const l = layer(j, 'gap'); const n = 'g'.repeat(100000); l.name = n; l.config.name = n; layer(j, 'dropout').inbound_nodes = [[[n, 0, 0, {}]]]; },
    'dropout-rate-string': (j) => { layer(j, 'dropout').config.rate = 'half'; },
    'reshape-bad': (j) => { layers(j).splice(13, 0, { class_name: 'Reshape', config: { name: 'rs', target_shape: [-1, -1] }, name: 'rs', inbound_nodes: [[['gap', 0, 0, {}]]] }); layer(j, 'dropout').inbound_nodes = [[['rs', 0, 0, {}]]]; },
  };
  // Config values the importer does not use (the weights give the shapes) may be accepted; it must not fail unclearly.
  const unused = /filters-1e9|kernel-huge|kernel-null|layer-config-null|input-batch-64|input-layers-empty|output-layers-null|layer-name-100k/;
  for (const [name, f] of Object.entries(topo)) add(`tfjs/topology-${name}`, /30000|1e6|1e9|huge/.test(name) ? 'memory bombs' : 'unclear errors', cnnFiles(mut(f)), describe, unused.test(name) ? 'any' : 'error');
  add('tfjs/layer-name-path-traversal', 'outside writes', cnnFiles(mut((j) => { const l = layer(j, 'gap'); l.name = '../../escape'; l.config.name = '../../escape'; layer(j, 'dropout').inbound_nodes = [[['../../escape', 0, 0, {}]]]; })), ['visualize', '{m}', '--unit', 'channel:../../escape:0', '--steps', '1', '--size', '16'], 'ok');

  // symlinks and special files around a layers model
  add('symlink/shard-outside', 'symlinks', cnnFiles(cnn.json, { 'weights.bin': { link: '{outside}/weights.bin' } }), describe);
  add('symlink/shard-relative-outside', 'symlinks', cnnFiles(cnn.json, { 'weights.bin': { link: '../outside/weights.bin' } }), describe);
  add('symlink/folder-on-the-way', 'symlinks', cnnFiles(mut((j) => { j.weightsManifest[0].paths = ['sub/weights.bin']; }), { sub: { link: '{outside}/sub' } }), describe);
  add('symlink/labels.txt-outside', 'symlinks', cnnFiles(cnn.json, { 'labels.txt': { link: '{outside}/labels.txt' } }), describeJson, 'any');
  add('symlink/labels.json-outside', 'symlinks', cnnFiles(cnn.json, { 'labels.json': { link: '{outside}/labels.json' } }), describeJson, 'any');
  add('symlink/metadata.json-outside', 'symlinks', cnnFiles(cnn.json, { 'metadata.json': { link: '{outside}/metadata.json' } }), describeJson, 'any');
  add('symlink/neuron-lens.json-outside', 'symlinks', cnnFiles(cnn.json, { 'neuron-lens.json': { link: '{outside}/neuron-lens.json' } }), describeJson, 'any');
  add('symlink/labels.txt-outside-visualize', 'symlinks', cnnFiles(cnn.json, { 'labels.txt': { link: '{outside}/labels.txt' } }), vis('--json'), 'any');
  add('symlink/shard-loop', 'symlinks', cnnFiles(cnn.json, { 'weights.bin': { link: 'weights.bin' } }), describe);
  add('symlink/shard-dangling', 'symlinks', cnnFiles(cnn.json, { 'weights.bin': { link: '{m}/nowhere.bin' } }), describe);
  add('symlink/shard-to-/proc', 'symlinks', cnnFiles(cnn.json, { 'weights.bin': { link: '/proc/self/environ' } }), describe);
  add('special/shard-fifo', 'special files', cnnFiles(cnn.json, { 'weights.bin': { fifo: true } }), describe);
  add('special/shard-dev-zero', 'special files', cnnFiles(cnn.json, { 'weights.bin': { link: '/dev/zero' } }), describe);
  add('special/model.json-fifo', 'special files', { 'model.json': { fifo: true }, 'weights.bin': cnn.shard }, describe);
  add('special/model.json-dev-zero', 'special files', { 'model.json': { link: '/dev/zero' }, 'weights.bin': cnn.shard }, describe);
  add('special/model.json-dev-zero-direct', 'special files', {}, ['describe', '/dev/zero']);
  add('special/model.json-is-folder', 'special files', { 'model.json/x': 'x' }, describe);
  add('special/labels.txt-fifo', 'special files', cnnFiles(cnn.json, { 'labels.txt': { fifo: true } }), describe);
  add('special/labels.txt-dev-zero', 'special files', cnnFiles(cnn.json, { 'labels.txt': { link: '/dev/zero' } }), describe);
  add('special/neuron-lens.json-fifo', 'special files', cnnFiles(cnn.json, { 'neuron-lens.json': { fifo: true } }), describe);
  add('special/metadata.json-dev-zero', 'special files', cnnFiles(cnn.json, { 'metadata.json': { link: '/dev/zero' } }), describe);
  add('special/empty-folder', 'special files', { 'readme.txt': 'no model here' }, describe);
  add('memory/sparse-1.9GB-shard', 'memory bombs', { 'model.json': JSON.stringify(mut((j) => { j.weightsManifest[0].weights.push({ name: 'big/w', shape: [475000000], dtype: 'float32' }); })), 'weights.bin': { sparse: cnn.shard.length + 1.9e9, head: cnn.shard } }, describe);
  add('memory/sparse-shard-1.9GB-unused', 'memory bombs', { 'model.json': text, 'weights.bin': { sparse: 1.9e9, head: cnn.shard } }, describe, 'any');
  add('memory/labels.txt-sparse-1GB', 'memory bombs', cnnFiles(cnn.json, { 'labels.txt': { sparse: 1e9 } }), describe);
  add('memory/neuron-lens.json-sparse-600MB', 'memory bombs', cnnFiles(cnn.json, { 'neuron-lens.json': { sparse: 6e8, head: Buffer.from('{"labels": ["') } }), describe);
  add('memory/model.json-sparse-700MB', 'memory bombs', { 'model.json': { sparse: 7e8, head: Buffer.from(text.slice(0, -1)) }, 'weights.bin': cnn.shard }, describe);
  add('labels/labels.txt-binary', 'corrupt', cnnFiles(cnn.json, { 'labels.txt': BAD_JSON['binary-garbage'] }), describe, 'any');
  add('labels/labels.txt-one-line-1MB', 'corrupt', cnnFiles(cnn.json, { 'labels.txt': 'x'.repeat(1 << 20) }), describe, 'any');
  add('labels/metadata-labels-objects', 'corrupt', cnnFiles(cnn.json, { 'metadata.json': JSON.stringify({ labels: [{ a: 1 }, null, 3] }) }), describe, 'any');

  // neuron-lens.json values
  const sidecars: Record<string, unknown> = {
    'std-zero': { mean: [0.5], std: [0] },
    'std-negative-zero': { mean: [0.5], std: [-0] },
    'std-string': { mean: [0.5], std: ['0.2'] },
    'std-null': { mean: [0.5], std: [null] },
    'std-huge': { mean: [0.5], std: [1e308] },
    'std-not-array': { mean: 0.5, std: 0.2 },
    'std-wrong-count': { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] },
    'std-empty': { mean: [], std: [] },
    'mean-null': { mean: [null], std: [0.2] },
    'mean-string': { mean: ['x'], std: [0.2] },
    'mean-huge': { mean: [1e308], std: [1e-308] },
    'mean-alone': { mean: [0.5] },
    'inputRange-equal': { inputRange: [1, 1] },
    'inputRange-strings': { inputRange: ['0', '1'] },
    'inputRange-null': { inputRange: [null, 1] },
    'inputRange-three': { inputRange: [0, 1, 2] },
    'inputRange-huge': { inputRange: [-1e308, 1e308] },
    'inputRange-object': { inputRange: { lo: 0, hi: 1 } },
    'labels-numbers': { labels: [1, 2, 3] },
    'labels-string': { labels: 'abc' },
    'labels-null': { labels: null },
    'labels-nested': { labels: [['a']] },
    'logitsLayer-number': { logitsLayer: 5 },
    'logitsLayer-unknown': { logitsLayer: 'nowhere' },
    'logitsLayer-object': { logitsLayer: { name: 'logits' } },
    'proto-pollution': JSON.parse('{"__proto__": {"inputRange": [0, 0]}, "constructor": {"prototype": {"x": 1}}}'),
  };
  // std 1e308 divides to a tiny but finite scale: degenerate, not invalid
  for (const [name, j] of Object.entries(sidecars)) add(`sidecar/${name}`, 'unclear errors', cnnFiles(cnn.json, { 'neuron-lens.json': JSON.stringify(j) }), vis(), /proto-pollution|std-huge/.test(name) ? 'any' : 'error');

  // ---------------------------------------------------------------- TF.js graph model
  const graphJson = (nodes: any[]) => JSON.stringify({ format: 'graph-model', modelTopology: { node: nodes, versions: { producer: 440 } }, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [3, 3, 1, 4], dtype: 'float32' }] }] });
  const ph = { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_FLOAT' }, shape: { shape: { dim: [{ size: '-1' }, { size: '8' }, { size: '8' }, { size: '1' }] } } } };
  const wconst = { name: 'w', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '3' }, { size: '3' }, { size: '1' }, { size: '4' }] } } } } };
  const conv = { name: 'conv', op: 'Conv2D', input: ['x', 'w'], attr: { strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: Buffer.from('SAME').toString('base64') }, data_format: { s: Buffer.from('NHWC').toString('base64') }, T: { type: 'DT_FLOAT' } } };
  const wbin = Buffer.from(new Float32Array(36).map((_, i) => Math.sin(i)).buffer);
  const graphs: Record<string, any[]> = {
    'node-null': [ph, wconst, null],
    'nodes-string': 'nodes' as any,
    'no-placeholder': [wconst, conv],
    'two-placeholders': [ph, { ...ph, name: 'x2' }, wconst, conv],
    'placeholder-shape-huge': [{ ...ph, attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '30000' }, { size: '30000' }, { size: '1' }] } } } }, wconst, conv],
    'placeholder-shape-garbage': [{ ...ph, attr: { shape: { shape: { dim: 'x' } } } }, wconst, conv],
    'unknown-op': [ph, wconst, { ...conv, op: 'PyFunc' }],
    'input-missing-node': [ph, wconst, { ...conv, input: ['x', 'nowhere'] }],
    'input-null': [ph, wconst, { ...conv, input: null }],
    'attr-null': [ph, wconst, { ...conv, attr: null }],
    'strides-garbage': [ph, wconst, { ...conv, attr: { ...conv.attr, strides: { list: { i: ['a'] } } } }],
    'padding-not-base64': [ph, wconst, { ...conv, attr: { ...conv.attr, padding: { s: '%%%' } } }],
    'cycle': [ph, wconst, { ...conv, input: ['conv', 'w'] }],
  };
  add('graph/baseline', 'valid', { 'model.json': graphJson([ph, wconst, conv]), 'w.bin': wbin }, describe, 'any');
  for (const [name, nodes] of Object.entries(graphs)) add(`graph/${name}`, 'unclear errors', { 'model.json': graphJson(nodes), 'w.bin': wbin }, describe);
  add('graph/no-versions', 'unclear errors', { 'model.json': JSON.stringify({ format: 'graph-model', modelTopology: { node: [ph, wconst, { ...conv, op: 'PyFunc' }] }, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [3, 3, 1, 4], dtype: 'float32' }] }] }), 'w.bin': wbin }, describe);
  add('graph/library-function-garbage', 'unclear errors', { 'model.json': JSON.stringify({ format: 'graph-model', modelTopology: { node: [ph, wconst, conv], library: { function: [null] }, versions: { producer: 440 } }, weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'w', shape: [3, 3, 1, 4], dtype: 'float32' }] }] }), 'w.bin': wbin }, describe);

  // ---------------------------------------------------------------- ONNX
  const onnx = (bytes: Uint8Array, extra: Files = {}): Files => ({ 'model.onnx': bytes, ...extra });
  const dOnnx = ['describe', '{m}/model.onnx'];
  const tiny = onnxModel(tinyOnnxParts());
  add('onnx/valid-describe', 'valid', onnx(tiny), [...dOnnx, '--json'], 'ok');
  add('onnx/valid-visualize', 'valid', onnx(tiny), ['visualize', '{m}/model.onnx', '--unit', 'logit:0', '--steps', '2'], 'ok');
  add('onnx/valid-opset-7', 'valid', onnx(onnxModel({ ...tinyOnnxParts(), opset: 7 })), dOnnx, 'ok');
  add('onnx/valid-opset-17', 'valid', onnx(onnxModel({ ...tinyOnnxParts(), opset: 17 })), dOnnx, 'ok');
  for (const frac of [0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 0.99]) add(`onnx/truncated-${frac}`, 'truncated', onnx(tiny.subarray(0, Math.floor(tiny.length * frac))), dOnnx);
  for (let seed = 1; seed <= 24; seed++) {
    const b = Buffer.from(tiny);
    let s = seed * 2654435761 >>> 0;
    for (let k = 0; k < 3; k++) { s = (s * 1664525 + 1013904223) >>> 0; b[s % b.length] ^= 1 << (s >>> 29); }
    add(`onnx/bitflip-${seed}`, 'corrupt', onnx(b), dOnnx, 'any');
  }
  add('onnx/garbage', 'corrupt', onnx(BAD_JSON['binary-garbage'] as Uint8Array), dOnnx);
  add('onnx/text', 'corrupt', onnx(Buffer.from('this is not a protobuf')), dOnnx);
  add('onnx/empty', 'corrupt', onnx(new Uint8Array(0)), dOnnx);
  for (const [name, opset] of [['none', null], ['1', 1], ['6', 6], ['18', 18], ['99', 99], ['0', 0], ['negative', -1], ['2^40', 2 ** 40]] as const) {
    add(`onnx/opset-${name}`, 'silently accepted', onnx(onnxModel({ ...tinyOnnxParts(), opset })), dOnnx);
  }
  add('onnx/opset-only-custom-domain', 'silently accepted', onnx((() => {
    const b = onnxModel({ ...tinyOnnxParts(), opset: null });
    return b;
  })()), dOnnx);

  // constant folding bombs: tiny files whose constants would be gigabytes
  const bombs: Record<string, [object[], object[], string]> = {
    'ConstantOfShape-1e9': [[onnxNode('ConstantOfShape', ['shape'], ['big'])], [onnxInt64('shape', [1e9])], 'big'],
    'ConstantOfShape-4x1e9': [[onnxNode('ConstantOfShape', ['shape'], ['big'])], [onnxInt64('shape', [4, 1e9])], 'big'],
    'ConstantOfShape-1e5x1e5': [[onnxNode('ConstantOfShape', ['shape'], ['big'])], [onnxInt64('shape', [1, 1, 1e5, 1e5])], 'big'],
    'ConstantOfShape-negative': [[onnxNode('ConstantOfShape', ['shape'], ['big'])], [onnxInt64('shape', [-5])], 'big'],
    'ConstantOfShape-2^62': [[onnxNode('ConstantOfShape', ['shape'], ['big'])], [onnxInt64('shape', [2 ** 52])], 'big'],
    'Range-1e9': [[onnxNode('Range', ['s', 'l', 'd'], ['big'])], [onnxFloat('s', [], [0]), onnxFloat('l', [], [1e9]), onnxFloat('d', [], [1])], 'big'],
    'Range-tiny-delta': [[onnxNode('Range', ['s', 'l', 'd'], ['big'])], [onnxFloat('s', [], [0]), onnxFloat('l', [], [1]), onnxFloat('d', [], [1e-12])], 'big'],
    'Range-zero-delta': [[onnxNode('Range', ['s', 'l', 'd'], ['big'])], [onnxFloat('s', [], [0]), onnxFloat('l', [], [1]), onnxFloat('d', [], [0])], 'big'],
    'Range-int64-1e9': [[onnxNode('Range', ['s', 'l', 'd'], ['big'])], [{ name: 's', dims: [], dataType: 7, int64Data: [0] }, { name: 'l', dims: [], dataType: 7, int64Data: [1e9] }, { name: 'd', dims: [], dataType: 7, int64Data: [1] }], 'big'],
    'Expand-1e5x1e5': [[onnxNode('Expand', ['one', 'shape'], ['big'])], [onnxFloat('one', [1], [1]), onnxInt64('shape', [1, 1, 1e5, 1e5])], 'big'],
    'Expand-1e10': [[onnxNode('Expand', ['one', 'shape'], ['big'])], [onnxFloat('one', [1], [1]), onnxInt64('shape', [1e10])], 'big'],
    'Tile-1e9': [[onnxNode('Tile', ['one', 'reps'], ['big'])], [onnxFloat('one', [1, 1, 1, 4], [1, 2, 3, 4]), onnxInt64('reps', [1, 1, 1e5, 1e4])], 'big'],
    'ConstantOfShape-then-Expand': [[onnxNode('ConstantOfShape', ['shape'], ['c']), onnxNode('Expand', ['c', 'shape2'], ['big'])], [onnxInt64('shape', [1, 1, 1, 1e4]), onnxInt64('shape2', [1, 1, 1e5, 1e4])], 'big'],
    'Concat-doubling': [
      Array.from({ length: 32 }, (_, i) => onnxNode('Concat', [i ? `d${i - 1}` : 'seed', i ? `d${i - 1}` : 'seed'], [`d${i}`], [attrInt('axis', 0)])),
      [onnxFloat('seed', [1], [1])], 'd31'],
    'Mul-broadcast-outer': [[onnxNode('Mul', ['a', 'b'], ['big'])], [onnxFloat('a', [100000, 1], Array(100000).fill(1)), onnxFloat('b', [1, 100000], Array(100000).fill(1))], 'big'],
    'Reshape-zero-to-huge': [[onnxNode('Reshape', ['one', 'shape'], ['big'])], [onnxFloat('one', [1], [1]), onnxInt64('shape', [1e9, 1e9])], 'big'],
    'Pad-huge': [[onnxNode('Pad', ['one', 'pads'], ['big'])], [onnxFloat('one', [1, 1, 1, 1], [1]), onnxInt64('pads', [0, 0, 0, 0, 0, 0, 1e5, 1e5])], 'big'],
  };
  for (const [name, [nodes, inits, out]] of Object.entries(bombs)) add(`onnx/fold-${name}`, 'memory bombs', onnx(onnxWithConstant(nodes, inits, out)), dOnnx);

  // ONNX external data
  const extTensor = (name: string, dims: number[], location: string, offset?: number, length?: number) => ({
    name, dims, dataType: 1, dataLocation: 1,
    externalData: [{ key: 'location', value: location }, ...(offset !== undefined ? [{ key: 'offset', value: String(offset) }] : []), ...(length !== undefined ? [{ key: 'length', value: String(length) }] : [])],
  });
  const withExt = (t: object, rest: Files = {}): Files => {
    const p = tinyOnnxParts();
    p.inits[0] = t;
    return { 'model.onnx': onnxModel(p), ...rest };
  };
  const w36 = Buffer.from(new Float32Array(36).map((_, i) => Math.cos(i)).buffer);
  add('onnx-ext/valid', 'valid', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), { 'w.bin': w36 }), dOnnx, 'ok');
  add('onnx-ext/dotdot', 'symlinks', withExt(extTensor('conv.w', [4, 1, 3, 3], '../outside/weights.bin')), dOnnx);
  add('onnx-ext/absolute', 'symlinks', withExt(extTensor('conv.w', [4, 1, 3, 3], '{outside}/weights.bin'.replace('{outside}', '/etc/passwd'))), dOnnx);
  add('onnx-ext/symlink-outside', 'symlinks', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), { 'w.bin': { link: '{outside}/weights.bin' } }), dOnnx);
  add('onnx-ext/folder-link', 'symlinks', withExt(extTensor('conv.w', [4, 1, 3, 3], 'sub/weights.bin'), { sub: { link: '{outside}/sub' } }), dOnnx);
  add('onnx-ext/fifo', 'special files', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), { 'w.bin': { fifo: true } }), dOnnx);
  add('onnx-ext/dev-zero', 'special files', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), { 'w.bin': { link: '/dev/zero' } }), dOnnx);
  add('onnx-ext/missing', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin')), dOnnx);
  add('onnx-ext/empty-location', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], '')), dOnnx);
  add('onnx-ext/location-is-model', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], 'model.onnx')), dOnnx, 'any');
  add('onnx-ext/offset-beyond', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin', 1000), { 'w.bin': w36 }), dOnnx);
  add('onnx-ext/offset-negative', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin', -8), { 'w.bin': w36 }), dOnnx);
  add('onnx-ext/offset-garbage', 'corrupt', withExt({ ...extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: 'abc' }] }, { 'w.bin': w36 }), dOnnx);
  add('onnx-ext/length-huge', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin', 0, 1e12), { 'w.bin': w36 }), dOnnx);
  add('onnx-ext/length-short', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin', 0, 8), { 'w.bin': w36 }), dOnnx);
  add('onnx-ext/file-short', 'truncated', withExt(extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), { 'w.bin': w36.subarray(0, 100) }), dOnnx);
  add('onnx-ext/no-location', 'corrupt', withExt({ ...extTensor('conv.w', [4, 1, 3, 3], 'w.bin'), externalData: [] }), dOnnx);
  add('onnx-ext/uri-malformed', 'corrupt', withExt(extTensor('conv.w', [4, 1, 3, 3], '%E0%A4%A')), dOnnx);
  add('onnx-ext/ten-initializers-share-sparse-file', 'memory bombs', (() => {
    const p = tinyOnnxParts();
    const extra = Array.from({ length: 10 }, (_, i) => extTensor(`big${i}`, [100000000], 'big.bin', 0, 400000000));
    const nodes = [...extra.map((e, i) => onnxNode('ReduceSum', [e.name], [`s${i}`], [attrInt('keepdims', 0)])), ...p.nodes];
    return { 'model.onnx': onnxModel({ nodes, inits: [...p.inits, ...extra] }), 'big.bin': { sparse: 400000000 } };
  })(), dOnnx);
  add('onnx-ext/sparse-dims-huge', 'memory bombs', withExt(extTensor('conv.w', [4, 1, 3, 300000000], 'w.bin'), { 'w.bin': { sparse: 4 * 4 * 9 * 300000000 } }), dOnnx);

  // ONNX structure
  const struct: Record<string, () => Uint8Array> = {
    'no-graph': () => new Uint8Array([0x08, 0x07]),
    'no-nodes': () => onnxModel({ nodes: [], inits: [] }),
    'init-dims-negative': () => { const p = tinyOnnxParts(); (p.inits[1] as any).dims = [-4]; return onnxModel(p); },
    'init-dims-huge': () => { const p = tinyOnnxParts(); (p.inits[1] as any).dims = [1e6, 1e6]; return onnxModel(p); },
    'init-dims-2^40': () => { const p = tinyOnnxParts(); (p.inits[1] as any).dims = [2 ** 40]; return onnxModel(p); },
    'init-data-short': () => { const p = tinyOnnxParts(); (p.inits[0] as any).floatData = [1, 2]; return onnxModel(p); },
    'init-raw-short': () => { const p = tinyOnnxParts(); p.inits[0] = { name: 'conv.w', dims: [4, 1, 3, 3], dataType: 1, rawData: Buffer.alloc(7) }; return onnxModel(p); },
    'init-raw-long': () => { const p = tinyOnnxParts(); p.inits[0] = { name: 'conv.w', dims: [4, 1, 3, 3], dataType: 1, rawData: Buffer.alloc(4000) }; return onnxModel(p); },
    'init-dtype-string': () => { const p = tinyOnnxParts(); (p.inits[1] as any).dataType = 8; return onnxModel(p); },
    'init-dtype-0': () => { const p = tinyOnnxParts(); (p.inits[1] as any).dataType = 0; return onnxModel(p); },
    'init-dtype-99': () => { const p = tinyOnnxParts(); (p.inits[1] as any).dataType = 99; return onnxModel(p); },
    'init-dtype-complex': () => { const p = tinyOnnxParts(); p.inits[1] = { name: 'conv.b', dims: [4], dataType: 14, rawData: Buffer.alloc(32) }; return onnxModel(p); },
    'init-dtype-bfloat16': () => { const p = tinyOnnxParts(); p.inits[1] = { name: 'conv.b', dims: [4], dataType: 16, rawData: Buffer.alloc(8) }; return onnxModel(p); },
    'init-dtype-float64-conv': () => { const p = tinyOnnxParts(); p.inits[0] = { name: 'conv.w', dims: [4, 1, 3, 3], dataType: 11, doubleData: Array(36).fill(0.1) }; return onnxModel(p); },
    'init-no-name': () => { const p = tinyOnnxParts(); (p.inits[1] as any).name = ''; return onnxModel(p); },
    'init-duplicated': () => { const p = tinyOnnxParts(); p.inits.push(onnxFloat('conv.b', [4], [9, 9, 9, 9])); return onnxModel(p); },
    'node-input-unknown': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).input = ['nowhere']; return onnxModel(p); },
    'node-no-inputs': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).input = []; return onnxModel(p); },
    'node-no-outputs': () => { const p = tinyOnnxParts(); (p.nodes[4] as any).output = []; return onnxModel(p); },
    'node-cycle': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).input = ['f1']; return onnxModel(p); },
    'node-two-producers': () => { const p = tinyOnnxParts(); (p.nodes[2] as any).output = ['r1']; return onnxModel(p); },
    'output-unknown': () => onnxModel({ ...tinyOnnxParts(), outputs: ['nowhere'] }),
    'output-none': () => onnxModel({ ...tinyOnnxParts(), outputs: [] }),
    'input-rank2': () => onnxModel({ ...tinyOnnxParts(), chw: [8] }),
    'input-zero': () => onnxModel({ ...tinyOnnxParts(), chw: [1, 0, 0] }),
    'input-negative': () => onnxModel({ ...tinyOnnxParts(), chw: [1, -8, 8] }),
    'input-30000x30000': () => onnxModel({ ...tinyOnnxParts(), chw: [1, 30000, 30000] }),
    'input-symbolic-hw': () => onnxModel({ ...tinyOnnxParts(), chw: [1, 'h', 'w'] }),
    'input-2^40': () => onnxModel({ ...tinyOnnxParts(), chw: [1, 2 ** 40, 8] }),
    'two-inputs': () => onnxModel({ ...tinyOnnxParts(), extraInputs: [{ name: 'second', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }] } } } }] }),
    'conv-kernel-mismatch': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute = [attrInts('kernel_shape', [5, 5])]; return onnxModel(p); },
    'conv-group-0': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute.push(attrInt('group', 0)); return onnxModel(p); },
    'conv-group-3': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute.push(attrInt('group', 3)); return onnxModel(p); },
    'conv-strides-0': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute.push(attrInts('strides', [0, 0])); return onnxModel(p); },
    'conv-pads-negative': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute = [attrInts('kernel_shape', [3, 3]), attrInts('pads', [-5, -5, -5, -5])]; return onnxModel(p); },
    'conv-pads-huge': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute = [attrInts('kernel_shape', [3, 3]), attrInts('pads', [30000, 30000, 30000, 30000])]; return onnxModel(p); },
    'conv-dilations-0': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute.push(attrInts('dilations', [0, 0])); return onnxModel(p); },
    'conv-weight-rank2': () => { const p = tinyOnnxParts(); p.inits[0] = onnxFloat('conv.w', [4, 9]); return onnxModel(p); },
    'conv-auto-pad-weird': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute.push({ name: 'auto_pad', type: 3, s: Buffer.from('SIDEWAYS') }); return onnxModel(p); },
    'attr-type-mismatch': () => { const p = tinyOnnxParts(); (p.nodes[0] as any).attribute = [{ name: 'kernel_shape', type: 1, f: 3 }]; return onnxModel(p); },
    'gemm-shape-mismatch': () => { const p = tinyOnnxParts(); p.inits[2] = onnxFloat('fc.w', [3, 7]); return onnxModel(p); },
    'flatten-axis-99': () => { const p = tinyOnnxParts(); (p.nodes[3] as any).attribute = [attrInt('axis', 99)]; return onnxModel(p); },
    'unsupported-op': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).opType = 'Loop'; return onnxModel(p); },
    'custom-domain-op': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).domain = 'com.evil'; return onnxModel(p); },
    'op-type-empty': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).opType = ''; return onnxModel(p); },
    'op-proto-name': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).opType = '__proto__'; return onnxModel(p); },
    'op-toString': () => { const p = tinyOnnxParts(); (p.nodes[1] as any).opType = 'toString'; return onnxModel(p); },
    'reshape-two-minus-one': () => { const p = tinyOnnxParts(); p.nodes.splice(4, 0, onnxNode('Reshape', ['f1', 'rs'], ['f2'])); (p.nodes[5] as any).input[0] = 'f2'; p.inits.push(onnxInt64('rs', [-1, -1])); return onnxModel(p); },
    'reshape-wrong-count': () => { const p = tinyOnnxParts(); p.nodes.splice(4, 0, onnxNode('Reshape', ['f1', 'rs'], ['f2'])); (p.nodes[5] as any).input[0] = 'f2'; p.inits.push(onnxInt64('rs', [1, 5])); return onnxModel(p); },
    'softmax-axis-99': () => { const p = tinyOnnxParts(); p.nodes.push(onnxNode('Softmax', ['logits'], ['probs'], [attrInt('axis', 99)])); return onnxModel({ ...p, outputs: ['probs'] }); },
    'concat-axis-99': () => { const p = tinyOnnxParts(); p.nodes.push(onnxNode('Concat', ['logits', 'logits'], ['cat'], [attrInt('axis', 99)])); return onnxModel({ ...p, outputs: ['cat'] }); },
    'gather-index-huge': () => { const p = tinyOnnxParts(); p.nodes.push(onnxNode('Gather', ['logits', 'idx'], ['g'], [attrInt('axis', 1)])); p.inits.push(onnxInt64('idx', [1e9])); return onnxModel({ ...p, outputs: ['g'] }); },
    'transpose-perm-bad': () => { const p = tinyOnnxParts(); p.nodes.push(onnxNode('Transpose', ['logits'], ['t'], [attrInts('perm', [5, 5])])); return onnxModel({ ...p, outputs: ['t'] }); },
    'slice-huge-ends': () => { const p = tinyOnnxParts(); p.nodes.push(onnxNode('Slice', ['logits', 'st', 'en'], ['sl'])); p.inits.push(onnxInt64('st', [0, 0]), onnxInt64('en', [2 ** 52, 2 ** 52])); return onnxModel({ ...p, outputs: ['sl'] }); },
    'resize-scale-1e4': () => { const p = tinyOnnxParts(); p.nodes.splice(2, 0, onnxNode('Resize', ['r1', '', 'scales'], ['r1x'], [{ name: 'mode', type: 3, s: Buffer.from('nearest') }])); (p.nodes[3] as any).input = ['r1x']; p.inits.push(onnxFloat('scales', [4], [1, 1, 1e4, 1e4])); return onnxModel(p); },
    'maxpool-kernel-0': () => { const p = tinyOnnxParts(); p.nodes.splice(2, 0, onnxNode('MaxPool', ['r1'], ['mp'], [attrInts('kernel_shape', [0, 0])])); (p.nodes[3] as any).input = ['mp']; return onnxModel(p); },
    'maxpool-kernel-huge': () => { const p = tinyOnnxParts(); p.nodes.splice(2, 0, onnxNode('MaxPool', ['r1'], ['mp'], [attrInts('kernel_shape', [100, 100])])); (p.nodes[3] as any).input = ['mp']; return onnxModel(p); },
    'batchnorm-wrong-sizes': () => { const p = tinyOnnxParts(); p.nodes.splice(1, 0, onnxNode('BatchNormalization', ['c1', 'bs', 'bb', 'bm', 'bv'], ['c1n'])); (p.nodes[2] as any).input = ['c1n']; p.inits.push(onnxFloat('bs', [7]), onnxFloat('bb', [4]), onnxFloat('bm', [4]), onnxFloat('bv', [4])); return onnxModel(p); },
    'constant-no-value': () => { const p = tinyOnnxParts(); p.nodes.unshift(onnxNode('Constant', [], ['k'])); p.nodes.splice(3, 0, onnxNode('Add', ['r1', 'k'], ['r1k'])); (p.nodes[4] as any).input = ['r1k']; return onnxModel(p); },
    'many-nodes-5000': () => { const p = tinyOnnxParts(); const extra = Array.from({ length: 5000 }, (_, i) => onnxNode('Relu', [i ? `x${i - 1}` : 'r1'], [`x${i}`])); (p.nodes[2] as any).input = ['x4999']; return onnxModel({ ...p, nodes: [...p.nodes.slice(0, 2), ...extra, ...p.nodes.slice(2)] }); },
  };
  // Valid or harmless per the ONNX spec (weights give the kernel, ends are clamped), or by the importer's choice (float64 weights).
  // bfloat16 (like float16) weights are widened to float32: a valid model
  const widened = /init-dtype-bfloat16/;
  const harmless = /init-dtype-float64-conv|output-none|conv-kernel-mismatch|conv-pads-negative|attr-type-mismatch|slice-huge-ends|many-nodes/;
  for (const [name, make] of Object.entries(struct)) add(`onnx/${name}`, /huge|2\^40|30000|1e4|5000/.test(name) ? 'memory bombs' : 'unclear errors', onnx(make()), dOnnx, harmless.test(name) ? 'any' : widened.test(name) ? 'ok' : 'error');

  // ---------------------------------------------------------------- Keras .h5 and .keras
  const h5 = await loadH5();
  const weights = cnnWeights(cnn.json, cnn.shard);
  const topology = cnn.json.modelTopology;
  const h5ok = legacyH5(h5, topology, weights);
  const k3cfg = keras3Config(topology);
  const k3w = keras3Weights(h5, topology, weights);
  const kzip = kerasZip(k3cfg, k3w);
  const dH5 = ['describe', '{m}/model.h5'];
  const dKeras = ['describe', '{m}/model.keras'];
  add('h5/valid', 'valid', { 'model.h5': h5ok }, dH5, 'ok');
  add('keras/valid', 'valid', { 'model.keras': kzip }, dKeras, 'ok');
  for (const frac of [0, 0.01, 0.3, 0.6, 0.9, 0.999]) add(`h5/truncated-${frac}`, 'truncated', { 'model.h5': h5ok.subarray(0, Math.floor(h5ok.length * frac)) }, dH5);
  for (const frac of [0.01, 0.3, 0.6, 0.9, 0.999]) add(`keras/truncated-${frac}`, 'truncated', { 'model.keras': kzip.subarray(0, Math.floor(kzip.length * frac)) }, dKeras);
  add('h5/garbage', 'corrupt', { 'model.h5': BAD_JSON['binary-garbage'] }, dH5);
  add('h5/hdf5-signature-then-garbage', 'corrupt', { 'model.h5': Buffer.concat([Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(2000, 0xab)]) }, dH5);
  add('h5/weights-only', 'corrupt', { 'model.h5': h5Bytes(h5, (f) => { f.create_group('conv1'); }) }, dH5);
  for (const [name, t] of Object.entries(BAD_JSON)) if (typeof t === 'string' && t.length < 1000) add(`h5/model_config-${name}`, 'corrupt json', { 'model.h5': legacyH5(h5, topology, weights, t || ' ') }, dH5);
  add('h5/model_config-lambda', 'unclear errors', { 'model.h5': legacyH5(h5, mut((j) => { layers(j)[1].class_name = 'Lambda'; }).modelTopology, weights) }, dH5);
  add('h5/model_config-input-30000', 'memory bombs', { 'model.h5': legacyH5(h5, mut((j) => { layers(j)[0].config.batch_input_shape = [null, 30000, 30000, 1]; }).modelTopology, weights) }, dH5);
  add('h5/weight-wrong-shape', 'corrupt', { 'model.h5': legacyH5(h5, topology, weights.map((w, i) => (i === 0 ? { ...w, shape: [9, 32], data: w.data } : w))) }, dH5);
  add('h5/weight-missing', 'corrupt', { 'model.h5': legacyH5(h5, topology, weights.slice(1)) }, dH5);
  add('h5/weight-int', 'corrupt', { 'model.h5': h5Bytes(h5, (f) => { f.create_attribute('model_config', JSON.stringify(topology)); const mw = f.create_group('model_weights'); const g = mw.create_group('conv1'); g.create_dataset({ name: 'k', data: new Int32Array(4), shape: [4], dtype: '<i' }); }) }, dH5);
  add('h5/sparse-1.9GB', 'memory bombs', { 'model.h5': { sparse: 1.9e9, head: h5ok } }, dH5, 'any');
  add('h5/fifo', 'special files', { 'model.h5': { fifo: true } }, dH5);
  add('h5/dev-zero', 'special files', { 'model.h5': { link: '/dev/zero' } }, dH5);
  add('keras/garbage', 'corrupt', { 'model.keras': BAD_JSON['binary-garbage'] }, dKeras);
  add('keras/no-config', 'corrupt', { 'model.keras': (() => { const z = kerasZip('{}', k3w); return z; })() }, dKeras);
  add('keras/config-missing', 'corrupt', { 'model.keras': require('fflate').zipSync({ 'model.weights.h5': k3w }, { level: 0 }) }, dKeras);
  add('keras/weights-missing', 'corrupt', { 'model.keras': require('fflate').zipSync({ 'config.json': Buffer.from(JSON.stringify(k3cfg)) }, { level: 0 }) }, dKeras);
  add('keras/weights-garbage', 'corrupt', { 'model.keras': kerasZip(k3cfg, BAD_JSON['binary-garbage'] as Uint8Array) }, dKeras);
  add('keras/weights-truncated', 'truncated', { 'model.keras': kerasZip(k3cfg, k3w.subarray(0, k3w.length >> 1)) }, dKeras);
  for (const [name, t] of Object.entries(BAD_JSON)) add(`keras/config.json-${name}`, 'corrupt json', { 'model.keras': kerasZip(typeof t === 'string' ? t : Buffer.from(t).toString('latin1'), k3w) }, dKeras);
  add('keras/config-lambda', 'unclear errors', { 'model.keras': kerasZip(keras3Config(mut((j) => { layers(j)[1].class_name = 'Lambda'; }).modelTopology), k3w) }, dKeras);
  add('keras/config-input-30000', 'memory bombs', { 'model.keras': kerasZip(keras3Config(mut((j) => { layers(j)[0].config.batch_input_shape = [null, 30000, 30000, 1]; }).modelTopology), k3w) }, dKeras);
  add('keras/config-inbound-garbage', 'unclear errors', { 'model.keras': kerasZip((() => { const c = clone(k3cfg); c.config.layers[2].inbound_nodes = [{ args: [{ class_name: '__keras_tensor__', config: null }] }]; return c; })(), k3w) }, dKeras);
  add('keras/config-layers-null', 'unclear errors', { 'model.keras': kerasZip((() => { const c = clone(k3cfg); c.config.layers = null; return c; })(), k3w) }, dKeras);
  add('keras/config-nested-model', 'unclear errors', { 'model.keras': kerasZip((() => { const c = clone(k3cfg); c.config.layers[1].class_name = 'Functional'; return c; })(), k3w) }, dKeras);
  add('keras/zip-bomb-config', 'memory bombs', { 'model.keras': kerasZip('{"a": "' + ' '.repeat(64 << 20) + '"}', k3w, {}, 9) }, dKeras);
  add('keras/zip-lying-size', 'memory bombs', { 'model.keras': (() => {
    const z = Buffer.from(kzip);
    // every local and central header of config.json claims 4 GB uncompressed
    for (let i = 0; i < z.length - 4; i++) {
      if (z.readUInt32LE(i) === 0x04034b50 && z.toString('latin1', i + 30, i + 41) === 'config.json') z.writeUInt32LE(0xfffffff0, i + 22);
      if (z.readUInt32LE(i) === 0x02014b50 && z.toString('latin1', i + 46, i + 57) === 'config.json') z.writeUInt32LE(0xfffffff0, i + 24);
    }
    return z;
  })() }, dKeras);
  add('keras/zip-entry-dotdot', 'outside writes', { 'model.keras': kerasZip(k3cfg, k3w, { '../../evil.txt': Buffer.from('evil') }) }, dKeras, 'any');
  add('keras/zip-10000-entries', 'memory bombs', { 'model.keras': kerasZip(k3cfg, k3w, Object.fromEntries(Array.from({ length: 10000 }, (_, i) => [`junk/${i}`, new Uint8Array(0)]))) }, dKeras, 'any');
  add('keras/fifo', 'special files', { 'model.keras': { fifo: true } }, dKeras);
  add('keras/sparse-3GB', 'memory bombs', { 'model.keras': { sparse: 3e9, head: kzip } }, dKeras);

  // ---------------------------------------------------------------- Hugging Face safetensors ViT
  const vit = hfVit();
  const st = splitSafetensors(vit['model.safetensors']);
  const dVit = ['describe', '{m}'];
  const vitFiles = (over: Files): Files => ({ ...vit, ...over });
  const stWith = (f: (h: Record<string, any>) => void, data = st.data) => { const h = clone(st.header); f(h); return safetensors(h, data); };
  const anyTensor = Object.keys(st.header).find((k) => k !== '__metadata__')!;
  add('hf/valid', 'valid', vitFiles({}), [...dVit, '--json'], 'ok');
  add('hf/valid-visualize', 'valid', vitFiles({}), ['visualize', '{m}', '--unit', 'vit:hidden_states.1:0', '--steps', '1'], 'ok');
  const stCases: Record<string, Uint8Array> = {
    'header-len-2^63': safetensors(st.header, st.data, 2n ** 63n),
    'header-len-2^32': safetensors(st.header, st.data, 2n ** 32n),
    'header-len-beyond-file': safetensors(st.header, st.data, BigInt(vit['model.safetensors'].length)),
    'header-len-zero': safetensors(st.header, st.data, 0n),
    'header-len-short': safetensors(st.header, st.data, 10n),
    'header-not-json': safetensors('{"a": nope}', st.data),
    'header-array': safetensors('[1, 2, 3]', st.data),
    'header-null': safetensors('null', st.data),
    'header-deep': safetensors('['.repeat(100000), st.data),
    'dtype-unknown': stWith((h) => { h[anyTensor].dtype = 'Q4'; }),
    'dtype-int8': stWith((h) => { h[anyTensor].dtype = 'I8'; }),
    'dtype-missing': stWith((h) => { delete h[anyTensor].dtype; }),
    'shape-negative': stWith((h) => { h[anyTensor].shape = [-10]; }),
    'shape-huge': stWith((h) => { h[anyTensor].shape = [1e9, 1e9]; }),
    'shape-string': stWith((h) => { h[anyTensor].shape = 'ten'; }),
    'offsets-beyond': stWith((h) => { h[anyTensor].data_offsets = [0, 1e12]; }),
    'offsets-reversed': stWith((h) => { const [a, b] = h[anyTensor].data_offsets; h[anyTensor].data_offsets = [b, a]; }),
    'offsets-fraction': stWith((h) => { h[anyTensor].data_offsets = [0.5, 40.5]; }),
    'offsets-missing': stWith((h) => { delete h[anyTensor].data_offsets; }),
    'offsets-strings': stWith((h) => { h[anyTensor].data_offsets = ['0', '40']; }),
    'offsets-size-mismatch': stWith((h) => { h[anyTensor].data_offsets = [0, 36]; }),
    'tensor-null': stWith((h) => { h[anyTensor] = null; }),
    'tensor-missing': stWith((h) => { delete h['vit.embeddings.cls_token']; }),
    'metadata-garbage': stWith((h) => { h.__metadata__ = { format: { nested: [1] } }; }),
    'data-truncated': safetensors(st.header, st.data.subarray(0, st.data.length >> 1)),
    'empty': new Uint8Array(0),
    'seven-bytes': new Uint8Array(7),
    'nan-weights': safetensors(st.header, Buffer.alloc(st.data.length, 0xff)),
  };
  for (const [name, bytes] of Object.entries(stCases)) add(`safetensors/${name}`, /2\^|huge|beyond|deep/.test(name) ? 'memory bombs' : 'corrupt', vitFiles({ 'model.safetensors': bytes }), dVit, name === 'nan-weights' || name === 'metadata-garbage' ? 'any' : 'error');
  const cfg = JSON.parse(vit['config.json'].toString('utf8'));
  const cfgCases: Record<string, (c: any) => void> = {
    'hidden-size-0': (c) => { c.hidden_size = 0; },
    'hidden-size-1e9': (c) => { c.hidden_size = 1e9; },
    'hidden-size-string': (c) => { c.hidden_size = '24'; },
    'layers-1e6': (c) => { c.num_hidden_layers = 1e6; },
    'layers-negative': (c) => { c.num_hidden_layers = -1; },
    'heads-0': (c) => { c.num_attention_heads = 0; },
    'heads-not-dividing': (c) => { c.num_attention_heads = 5; },
    'image-size-1e6': (c) => { c.image_size = 1e6; },
    'image-size-0': (c) => { c.image_size = 0; },
    'patch-size-0': (c) => { c.patch_size = 0; },
    'patch-size-1e6': (c) => { c.patch_size = 1e6; },
    'patch-not-dividing': (c) => { c.patch_size = 7; },
    'channels-0': (c) => { c.num_channels = 0; },
    'eps-string': (c) => { c.layer_norm_eps = 'tiny'; },
    'hidden-act-unknown': (c) => { c.hidden_act = 'evil'; },
    'model-type-unknown': (c) => { c.model_type = 'llama'; c.architectures = ['LlamaForCausalLM']; },
    'architectures-null': (c) => { c.architectures = null; },
    'id2label-objects': (c) => { c.id2label = { 0: { x: 1 } }; },
    'id2label-huge-index': (c) => { c.id2label = { 1000000000: 'x' }; },
    'timm-architecture-unknown': (c) => { c.architecture = 'resnet50'; },
  };
  for (const [name, f] of Object.entries(cfgCases)) { const c = clone(cfg); f(c); add(`hf/config-${name}`, /1e6|1e9/.test(name) ? 'memory bombs' : 'unclear errors', vitFiles({ 'config.json': JSON.stringify(c) }), dVit, /id2label|architectures-null/.test(name) ? 'any' : 'error'); }
  for (const [name, t] of Object.entries(BAD_JSON)) {
    add(`hf/config.json-${name}`, 'corrupt json', vitFiles({ 'config.json': t }), dVit);
    add(`hf/preprocessor_config.json-${name}`, 'corrupt json', vitFiles({ 'preprocessor_config.json': t }), dVit, /deep-object|huge-number/.test(name) ? 'any' : 'error');
  }
  const pp = JSON.parse(vit['preprocessor_config.json'].toString('utf8'));
  for (const [name, over] of Object.entries({ 'std-zero': { image_std: [0, 0, 0] }, 'std-strings': { image_std: ['a', 'b', 'c'] }, 'mean-two': { image_mean: [0.5, 0.5] }, 'rescale-nan': { rescale_factor: null, do_rescale: true }, 'std-scalar-zero': { image_std: 0 } })) {
    add(`hf/preprocessor-${name}`, 'unclear errors', vitFiles({ 'preprocessor_config.json': JSON.stringify({ ...pp, ...over }) }), ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1'], name === 'rescale-nan' ? 'any' : 'error');
  }
  add('hf/safetensors-fifo', 'special files', vitFiles({ 'model.safetensors': { fifo: true } }), dVit);
  add('hf/safetensors-dev-zero', 'special files', vitFiles({ 'model.safetensors': { link: '/dev/zero' } }), dVit);
  add('hf/safetensors-outside', 'symlinks', vitFiles({ 'model.safetensors': { link: '{outside}/weights.bin' } }), dVit);
  add('hf/config-outside', 'symlinks', vitFiles({ 'config.json': { link: '{outside}/neuron-lens.json' } }), dVit);
  add('hf/config-fifo', 'special files', vitFiles({ 'config.json': { fifo: true } }), dVit);
  add('hf/sparse-3GB', 'memory bombs', vitFiles({ 'model.safetensors': { sparse: 3e9, head: vit['model.safetensors'] } }), dVit, 'any');
  add('hf/pickle-only', 'unclear errors', { 'pytorch_model.bin': 'PK\u0003\u0004 pickle', 'config.json': vit['config.json'] }, dVit);

  // ---------------------------------------------------------------- images (attack --image)
  const imgCase = (id: string, cls: string, img: Entry, expect: Expect = 'error', name = 'photo.png') =>
    add(`image/${id}`, cls, cnnFiles(cnn.json, { [name]: img }), ['attack', '{m}', '--image', `{m}/${name}`, '--target', '1', '--steps', '1'], expect);
  const pngOk = png(20, 20);
  const jpgOk = jpg(20, 20);
  for (const frac of [0.1, 0.5, 0.9, 0.99]) imgCase(`png-truncated-${frac}`, 'truncated', pngOk.subarray(0, Math.floor(pngOk.length * frac)));
  for (const frac of [0.1, 0.5, 0.9]) imgCase(`jpeg-truncated-${frac}`, 'truncated', jpgOk.subarray(0, Math.floor(jpgOk.length * frac)), frac > 0.8 ? 'any' : 'error', 'photo.jpg');
  imgCase('png-declares-100000x100000', 'memory bombs', pngDeclaring(100000, 100000));
  imgCase('png-declares-65535x65535', 'memory bombs', pngDeclaring(65535, 65535));
  imgCase('png-declares-1x64000000', 'memory bombs', pngDeclaring(1, 64000000));
  imgCase('png-declares-64000000x1', 'memory bombs', pngDeclaring(64000000, 1));
  imgCase('png-declares-0x0', 'corrupt', pngDeclaring(0, 0));
  imgCase('png-declares-2^31', 'memory bombs', pngDeclaring(2 ** 31, 2 ** 31));
  imgCase('jpeg-declares-65535x65535', 'memory bombs', jpgDeclaring(65535, 65535), 'error', 'photo.jpg');
  imgCase('jpeg-declares-0x0', 'corrupt', jpgDeclaring(0, 0), 'error', 'photo.jpg');
  imgCase('png-bad-crc', 'corrupt', (() => { const b = Buffer.from(pngOk); b[30] ^= 0xff; return b; })(), 'any');
  imgCase('png-garbage-after-signature', 'corrupt', Buffer.concat([pngOk.subarray(0, 8), Buffer.alloc(500, 0x41)]));
  imgCase('garbage', 'corrupt', BAD_JSON['binary-garbage']);
  imgCase('text', 'corrupt', 'hello');
  imgCase('empty', 'corrupt', new Uint8Array(0));
  imgCase('folder', 'special files', { dir: true });
  imgCase('fifo', 'special files', { fifo: true });
  imgCase('dev-zero', 'special files', { link: '/dev/zero' });
  imgCase('dangling-link', 'symlinks', { link: '{m}/nowhere.png' });
  imgCase('gray-16bit', 'valid', png(20, 20, { colorType: 0, bitDepth: 16 }), 'ok');
  imgCase('gray-alpha', 'valid', png(20, 20, { colorType: 4 }), 'ok');
  imgCase('rgb-1x1', 'valid', png(1, 1, { colorType: 2 }), 'ok');
  imgCase('wide-4000x1', 'valid', png(4000, 1), 'any');
  imgCase('gif', 'corrupt', Buffer.from('GIF89a\u0001\u0000\u0001\u0000'), 'error', 'photo.gif');
  imgCase('sparse-2GB', 'memory bombs', { sparse: 2e9, head: pngOk });
  add('image/missing', 'corrupt', cnnFiles(), ['attack', '{m}', '--image', '{m}/nowhere.png', '--target', '1']);

  // ---------------------------------------------------------------- CLI numbers and specs
  const cli = (id: string, args: string[], expect: Expect = 'error', extra: Files = {}) => add(`cli/${id}`, 'cli numbers', cnnFiles(cnn.json, extra), args, expect);
  for (const v of ['0', '-1', '1e9', '1.5', 'abc', '', 'Infinity', 'NaN', '0x10', '1e400', '100001', ' 5', '2e4']) cli(`steps-${v || 'empty'}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', v]);
  for (const v of ['0', '7', '1e9', '4097', '2049', '1.5', '-28']) cli(`size-${v}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--size', v]);
  cli('size-2048-32-units', ['visualize', '{m}', '--unit', 'channel:conv1:0-31', '--steps', '1', '--size', '2048', '--batch', '32']);
  cli('size-1024-256-units-batch-256', ['visualize', '{m}', '--unit', 'channel:conv3:0-127', '--unit', 'channel:conv2:0-63', '--steps', '1', '--size', '1024', '--batch', '256']);
  cli('diversity-64-size-1024', ['visualize', '{m}', '--unit', 'channel:conv3:0-7', '--steps', '1', '--size', '1024', '--diversity', '64', '--batch', '8']);
  for (const v of ['-1', '4294967296', '1.5', '1e20', 'x']) cli(`seed-${v}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--seed', v]);
  cli('seed-4294967295', ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--seed', '4294967295'], 'ok');
  for (const v of ['0', '-1', 'Infinity', '1e400', 'NaN']) cli(`lr-${v}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--lr', v]);
  for (const v of ['0', '257', '1e9']) cli(`batch-${v}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--batch', v]);
  for (const v of ['1', '65', '1e9']) cli(`diversity-${v}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--diversity', v]);
  for (const v of ['-1', 'NaN']) cli(`tv-${v}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--tv', v]);
  const units = ['', 'logit:', 'logit:-1', 'logit:99999', 'logit:nope', 'logit:1e400', 'channel:nolayer:0', 'channel:conv1:0-1000000000', 'channel:conv1:5-2',
    'channel:conv1:999', 'channel:conv1:-3', 'neuron:conv1:0:9999,9999', 'neuron:conv1:0:-1,-1', 'neuron:conv1:0:a,b', 'vit:conv1:0', 'vit:logits:0', 'direction:conv1:{m}/missing.json',
    'direction:conv1:{m}/bad.json', 'direction:conv1:{m}/nan.json', 'direction:conv1:{m}/long.json', 'direction:conv1:0=NaN', 'direction:conv1:0=1e400', 'direction:conv1:99=1', 'cosine:conv1:',
    'cosine:conv1:0=0', '%%%', '0.5*', '*logit:0', '1e400*logit:0', 'NaN*logit:0', 'logit:0--logit:1', 'what:ever:0', 'channel:conv1', 'channel::0', `logit:0${'+logit:0'.repeat(5000)}`,
    'channel:conv1:0-3:extra', 'channel:__proto__:0', 'channel:constructor:0'];
  const unitFiles = { 'bad.json': '{"3": "x"}', 'nan.json': '[NaN]', 'long.json': JSON.stringify(Array(10000).fill(1)) };
  // a sum of 5001 terms is valid (its file name is cut to fit)
  units.forEach((u, i) => cli(`unit-${i}-${u.slice(0, 30)}`, ['visualize', '{m}', '--unit', u, '--steps', '1'], u.length > 1000 ? 'any' : 'error', unitFiles));
  cli('unit-100000-units', ['visualize', '{m}', ...Array.from({ length: 2000 }, () => ['--unit', 'channel:conv3:0-127']).flat(), '--steps', '1']);
  for (const t of ['pad:1e9', 'scale:0-0', 'scale:1e9-1e9', 'rotate:abc', 'jitter:-1', 'foo:1', 'pad:', ',,,', 'jitter:1e9']) cli(`transforms-${t}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--transforms', t]);
  for (const p of ['nope', '', ',', 'pixel,nope']) cli(`param-${p || 'empty'}`, ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--param', p]);
  cli('backend-nope', ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--backend', 'nope']);
  for (const r of ['1', '1,1', 'a,b', '1,2,3', 'inf,1', '1e400,1', '-1,-1', 'NaN,1', ',']) cli(`input-range-${r}`, ['describe', '{m}', '--input-range', r]);
  for (const t of ['nope', '-1', '99999', '', '1.5', '1e400']) cli(`target-${t || 'empty'}`, ['attack', '{m}', '--image', '{m}/photo.png', '--target', t, '--steps', '1'], 'error', { 'photo.png': photo });
  for (const [k, v] of [['epsilon', '0'], ['epsilon', '2'], ['epsilon', 'NaN'], ['step', '0'], ['method', 'evil'], ['update', 'x'], ['early-stop', 'maybe'], ['steps', '1e9']]) {
    cli(`attack-${k}-${v}`, ['attack', '{m}', '--image', '{m}/photo.png', '--target', '1', `--${k}`, v], 'error', { 'photo.png': photo });
  }
  cli('attack-20-images', ['attack', '{m}', ...Array.from({ length: 20 }, () => ['--image', '{m}/photo.png']).flat(), ...Array.from({ length: 20 }, () => ['--target', '1']).flat(), '--steps', '1', '--epsilon', '0.01', '--method', 'fgsm'], 'any', { 'photo.png': photo });
  cli('unknown-flag', ['visualize', '{m}', '--unit', 'logit:0', '--nope']);
  cli('unknown-command', ['frobnicate', '{m}']);
  cli('describe-two-models', ['describe', '{m}', '{m}']);
  cli('model-missing', ['describe', '{m}/nowhere.json']);
  cli('model-unknown-extension', ['describe', '{m}/weights.bin']);
  cli('model-path-uri', ['describe', 'file:///etc/passwd']);

  // ---------------------------------------------------------------- --out
  const out = (id: string, outArg: string, extra: Files = {}, expect: Expect = 'error') =>
    add(`out/${id}`, '--out', cnnFiles(cnn.json, extra), ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--out', outArg], expect);
  out('under-proc', '/proc/self/neuron-lens-out');
  out('under-proc-deep', '/proc/1/task/nope/a/b/c');
  out('under-sys', '/sys/kernel/neuron-lens-out');
  out('under-sys-deep', '/sys/a/b/c');
  out('dev-null', '/dev/null');
  out('file-exists', '{m}/model.json');
  out('file-on-the-way', '{m}/model.json/sub');
  out('fifo', '{m}/pipe', { pipe: { fifo: true } });
  out('empty-string', '');
  out('name-too-long', `{out}/${'a'.repeat(300)}`);
  out('path-too-long', `{out}/${Array(400).fill('abcdefghij').join('/')}`);
  out('dangling-link', '{m}/deadlink', { deadlink: { link: '{m}/nowhere/deeper' } });
  add('out/grid.png-symlink-outside', 'outside writes', cnnFiles(cnn.json, { '@out/grid.png': { link: '{outside}/image.png' }, '@out/result.json': { link: '{outside}/canary.txt' } }), ['visualize', '{m}', '--unit', 'logit:0', '--steps', '1', '--out', '{out}'], 'ok');
  return cases;
}
