// Small valid inputs of every kind the tools read, built at test time; the cases break them.
import * as fs from 'fs';
import * as path from 'path';
import { strToU8, zipSync } from 'fflate';
import type * as H5 from 'h5wasm';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { encodeModel } from '../../src/core/model/onnx/proto';

export const REPO = path.resolve(__dirname, '..', '..');

/** The embedded Fashion-MNIST CNN (a TF.js layers model: model.json + one 379 KB shard). */
export function fashionCnn(): { json: any; shard: Buffer; sidecar: string } {
  const dir = path.join(REPO, 'models', 'fashion_cnn');
  return {
    json: JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')),
    shard: fs.readFileSync(path.join(dir, 'weights.bin')),
    sidecar: fs.readFileSync(path.join(dir, 'neuron-lens.json'), 'utf8'),
  };
}

/** A Hugging Face ViT folder (config.json, model.safetensors, preprocessor_config.json), 192 KB. */
export function hfVit(): Record<string, Buffer> {
  const dir = path.join(REPO, 'src', 'core', 'model', 'hf', 'testdata', 'vit_hf');
  return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
}

/** A safetensors file from a header and a data section (no checks: cases write lying files). */
export function safetensors(header: unknown, data: Uint8Array, headerLen?: bigint): Buffer {
  const h = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** The parts of a safetensors file: its header object and data section. */
export function splitSafetensors(b: Buffer): { header: Record<string, any>; data: Buffer } {
  const n = Number(b.readBigUInt64LE(0));
  return { header: JSON.parse(b.subarray(8, 8 + n).toString('utf8')), data: b.subarray(8 + n) };
}

// ---- ONNX

const FLOAT = 1;
const INT64 = 7;
export const onnxNode = (opType: string, input: string[], output: string[], attribute: object[] = [], domain = '') =>
  ({ opType, input, output, attribute, name: `/${output[0]}/${opType}`, domain });
export const onnxFloat = (name: string, dims: number[], data?: number[]) =>
  ({ name, dims, dataType: FLOAT, floatData: data ?? Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i + 1) * 0.3) });
export const onnxInt64 = (name: string, data: number[]) => ({ name, dims: [data.length], dataType: INT64, int64Data: data });
export const attrInts = (name: string, v: number[]) => ({ name, type: 7, ints: v });
export const attrInt = (name: string, v: number) => ({ name, type: 2, i: v });

export interface OnnxParts {
  nodes: object[];
  inits: object[];
  /** [C, H, W] of the input (batch is symbolic). */
  chw?: (number | string)[];
  outputs?: string[];
  opset?: number | null;
  extraInputs?: object[];
}

/** An ONNX model's bytes: one NCHW float input named "input". */
export function onnxModel(p: OnnxParts): Uint8Array {
  const chw = p.chw ?? [1, 8, 8];
  return encodeModel({
    irVersion: 7,
    opsetImport: p.opset === null ? [] : [{ domain: '', version: p.opset ?? 13 }],
    graph: {
      name: 'g',
      node: p.nodes,
      initializer: p.inits,
      input: [
        { name: 'input', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, ...chw.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }))] } } } },
        ...(p.extraInputs ?? []),
      ],
      output: (p.outputs ?? ['logits']).map((name) => ({ name })),
    },
  });
}

/** input [N,1,8,8] -> Conv 4x3x3 -> Relu -> GlobalAveragePool -> Flatten -> Gemm 3 = logits. */
export function tinyOnnxParts(): OnnxParts {
  return {
    nodes: [
      onnxNode('Conv', ['input', 'conv.w', 'conv.b'], ['c1'], [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])]),
      onnxNode('Relu', ['c1'], ['r1']),
      onnxNode('GlobalAveragePool', ['r1'], ['g1']),
      onnxNode('Flatten', ['g1'], ['f1']),
      onnxNode('Gemm', ['f1', 'fc.w', 'fc.b'], ['logits'], [attrInt('transB', 1)]),
    ],
    inits: [onnxFloat('conv.w', [4, 1, 3, 3]), onnxFloat('conv.b', [4]), onnxFloat('fc.w', [3, 4]), onnxFloat('fc.b', [3])],
  };
}

/**
 * The tiny model with `extra` nodes feeding a constant into it: `Add(r1, <name>)` after the Relu, so the folded
 * constant is used (its shape must broadcast to [N,4,8,8]).
 */
export function onnxWithConstant(extraNodes: object[], extraInits: object[], name: string, opset = 13): Uint8Array {
  const p = tinyOnnxParts();
  const nodes = [...extraNodes, p.nodes[0], p.nodes[1], onnxNode('Add', ['r1', name], ['r1b']), ...p.nodes.slice(2)];
  (nodes[nodes.length - 3] as any).input = ['r1b'];
  return onnxModel({ nodes, inits: [...p.inits, ...extraInits], opset });
}

// ---- Keras

let h5mod: typeof H5 | undefined;
export async function loadH5(): Promise<typeof H5> {
  if (!h5mod) {
    h5mod = await import('h5wasm');
    await h5mod.ready;
  }
  return h5mod;
}

let h5count = 0;
export function h5Bytes(h5: typeof H5, build: (f: H5.File) => void): Uint8Array {
  const mem = `/corpus-${++h5count}.h5`;
  const f = new h5.File(mem, 'w');
  build(f);
  f.close();
  const bytes = h5.FS!.readFile(mem);
  h5.FS!.unlink(mem);
  return bytes;
}

interface Weight { name: string; shape: number[]; data: Float32Array }

export function cnnWeights(json: any, shard: Buffer): Weight[] {
  let off = 0;
  return json.weightsManifest[0].weights.map((w: any) => {
    const n = w.shape.reduce((a: number, b: number) => a * b, 1);
    const data = new Float32Array(shard.buffer.slice(shard.byteOffset + off, shard.byteOffset + off + 4 * n));
    off += 4 * n;
    return { name: w.name, shape: w.shape, data };
  });
}

function putNames(g: H5.Group | H5.File, attr: string, names: string[]): void {
  const len = Math.max(1, ...names.map((n) => n.length));
  if (names.length === 0) g.create_attribute(attr, new Float32Array(0), [0], '<f');
  else g.create_attribute(attr, names, [names.length], `S${len}`);
}

/** A Keras 2 legacy .h5 of a TF.js layers topology: model_config + model_weights/<layer>/<layer>/<weight>:0. */
export function legacyH5(h5: typeof H5, topology: any, weights: Weight[], modelConfig?: string): Uint8Array {
  const layers: any[] = topology.config.layers;
  return h5Bytes(h5, (f) => {
    f.create_attribute('model_config', modelConfig ?? JSON.stringify(topology));
    f.create_attribute('keras_version', '2.1.4');
    const mw = f.create_group('model_weights');
    putNames(mw, 'layer_names', layers.map((l) => l.name));
    for (const l of layers) {
      const g = mw.create_group(l.config.name ?? l.name);
      const ws = weights.filter((w) => w.name.split('/')[0] === (l.config.name ?? l.name));
      putNames(g, 'weight_names', ws.map((w) => `${w.name}:0`));
      for (const w of ws) {
        const [a, b] = `${w.name}:0`.split('/');
        const sub = (g.get(a) as H5.Group | null) ?? g.create_group(a);
        sub.create_dataset({ name: b, data: w.data, shape: w.shape, dtype: '<f' });
      }
    }
  });
}

const dtypePolicy = { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
const kerasTensor = (r: any[]) => ({ class_name: '__keras_tensor__', config: { shape: null, dtype: 'float32', keras_history: [r[0], r[1], r[2]] } });

/** A Keras 2 functional config rewritten the way Keras 3 serializes it. */
export function keras3Config(topology: any): any {
  const c = topology.config;
  const layers = c.layers.map((l: any) => {
    const cfg: any = { ...l.config, dtype: dtypePolicy };
    if (l.class_name === 'InputLayer') { cfg.batch_shape = cfg.batch_input_shape; delete cfg.batch_input_shape; cfg.dtype = 'float32'; }
    if (l.class_name === 'Activation') cfg.activation = { module: 'keras.activations', class_name: 'function', config: cfg.activation, registered_name: 'function' };
    const refs: any[] = l.inbound_nodes.length ? l.inbound_nodes[0] : [];
    const inbound = refs.length === 0 ? [] : [{ args: refs.length === 1 ? [kerasTensor(refs[0])] : [refs.map(kerasTensor)], kwargs: Object.assign({}, ...refs.map((r) => r[3] ?? {})) }];
    return { module: 'keras.layers', class_name: l.class_name, config: cfg, registered_name: null, name: l.name, inbound_nodes: inbound };
  });
  return {
    module: 'keras.src.models.functional', class_name: 'Functional', registered_name: 'Functional',
    config: { name: c.name ?? 'model', trainable: true, layers, input_layers: c.input_layers, output_layers: c.output_layers },
  };
}

const SNAKE: Record<string, string> = {
  InputLayer: 'input_layer', Conv2D: 'conv2d', BatchNormalization: 'batch_normalization', Activation: 'activation',
  MaxPooling2D: 'max_pooling2d', GlobalAveragePooling2D: 'global_average_pooling2d', Dropout: 'dropout', Dense: 'dense',
};

/** model.weights.h5 in the Keras 3 layout: layers/<snake class>[_n]/vars/<i>. */
export function keras3Weights(h5: typeof H5, topology: any, weights: Weight[]): Uint8Array {
  return h5Bytes(h5, (f) => {
    const root = f.create_group('layers');
    const used = new Map<string, number>();
    for (const l of topology.config.layers) {
      const snake = SNAKE[l.class_name];
      const n = used.get(snake) ?? 0;
      used.set(snake, n + 1);
      const vars = root.create_group(n === 0 ? snake : `${snake}_${n}`).create_group('vars');
      weights.filter((w) => w.name.split('/')[0] === l.name).forEach((w, i) => vars.create_dataset({ name: String(i), data: w.data, shape: w.shape, dtype: '<f' }));
    }
    f.create_group('optimizer').create_group('vars');
  });
}

export function kerasZip(config: unknown, weightsH5: Uint8Array, extra: Record<string, Uint8Array> = {}, level: 0 | 9 = 0): Uint8Array {
  return zipSync({
    'metadata.json': strToU8(JSON.stringify({ keras_version: '3.6.0', date_saved: '2024-10-01@12:00:00' })),
    'config.json': strToU8(typeof config === 'string' ? config : JSON.stringify(config)),
    'model.weights.h5': weightsH5,
    ...extra,
  }, { level });
}

// ---- images

export function png(width: number, height: number, opts: { colorType?: 0 | 2 | 4 | 6; bitDepth?: 8 | 16 } = {}): Buffer {
  const p = new PNG({ width, height, colorType: opts.colorType ?? 6, inputColorType: 6, bitDepth: opts.bitDepth ?? 8 } as any);
  for (let i = 0; i < width * height; i++) {
    p.data[4 * i] = (i * 7) & 255; p.data[4 * i + 1] = (i * 13) & 255; p.data[4 * i + 2] = (i * 29) & 255; p.data[4 * i + 3] = 255;
  }
  return PNG.sync.write(p, { colorType: opts.colorType ?? 6, inputColorType: 6, bitDepth: opts.bitDepth ?? 8 } as any);
}

export function jpg(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) { data[4 * i] = i & 255; data[4 * i + 1] = (i * 3) & 255; data[4 * i + 2] = 99; data[4 * i + 3] = 255; }
  return jpeg.encode({ data, width, height }, 80).data;
}

/** A PNG whose IHDR declares `w` x `h` (its CRC fixed), with the pixels of a small image. */
export function pngDeclaring(w: number, h: number): Buffer {
  const b = Buffer.from(png(4, 4));
  b.writeUInt32BE(w, 16);
  b.writeUInt32BE(h, 20);
  b.writeUInt32BE(crc32(b.subarray(12, 29)), 29);
  return b;
}

/** A JPEG whose SOF0 declares `w` x `h`. */
export function jpgDeclaring(w: number, h: number): Buffer {
  const b = Buffer.from(jpg(8, 8));
  for (let i = 2; i < b.length - 9; i++) {
    if (b[i] === 0xff && b[i + 1] === 0xc0) { b.writeUInt16BE(h, i + 5); b.writeUInt16BE(w, i + 7); break; }
  }
  return b;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
