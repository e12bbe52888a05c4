// The bench's ViT-B/16 as people download it: a Hugging Face `transformers` checkpoint (config.json +
// model.safetensors, ViTForImageClassification names, float32, random weights), written to a temporary folder and
// loaded by the product's own importer (src/core/model/hf), so its row sits beside the Keras-config vit_b16 row.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { importSafetensorsVit } from '../src/core/model/hf/vit';
import { ModelFolder } from '../src/core/model/folder';
import type { NLModel } from '../src/core/model/types';
import { countClasses } from '../src/core/model/classes';

const D = 768;
const LAYERS = 12;
const MLP = 3072;
const CLASSES = 1000;

/** name, shape, kind: uniform +-sqrt(3 / fan_in) for weights (fan_in = last dims), +-0.02 for biases and tokens, 1 +- 0.1 for norm scales. */
function tensors(): [string, number[], number, number][] {
  const w = (name: string, shape: number[]): [string, number[], number, number] => [name, shape, 0, Math.sqrt(3 / shape.slice(1).reduce((a, b) => a * b, 1))];
  const small = (name: string, shape: number[]): [string, number[], number, number] => [name, shape, 0, 0.02];
  const scale = (name: string): [string, number[], number, number] => [name, [D], 1, 0.1];
  const out = [
    small('vit.embeddings.cls_token', [1, 1, D]),
    small('vit.embeddings.position_embeddings', [1, 197, D]),
    w('vit.embeddings.patch_embeddings.projection.weight', [D, 3, 16, 16]),
    small('vit.embeddings.patch_embeddings.projection.bias', [D]),
  ];
  for (let i = 0; i < LAYERS; i++) {
    const p = `vit.encoder.layer.${i}.`;
    for (const q of ['attention.attention.query', 'attention.attention.key', 'attention.attention.value', 'attention.output.dense']) {
      out.push(w(`${p}${q}.weight`, [D, D]), small(`${p}${q}.bias`, [D]));
    }
    out.push(w(`${p}intermediate.dense.weight`, [MLP, D]), small(`${p}intermediate.dense.bias`, [MLP]));
    out.push(w(`${p}output.dense.weight`, [D, MLP]), small(`${p}output.dense.bias`, [D]));
    for (const n of ['layernorm_before', 'layernorm_after']) out.push(scale(`${p}${n}.weight`), small(`${p}${n}.bias`, [D]));
  }
  out.push(scale('vit.layernorm.weight'), small('vit.layernorm.bias', [D]));
  out.push(w('classifier.weight', [CLASSES, D]), small('classifier.bias', [CLASSES]));
  return out;
}

/** Writes the checkpoint (f32 safetensors, about 346 MB) tensor by tensor. */
function writeCheckpoint(dir: string): void {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['ViTForImageClassification'], model_type: 'vit', hidden_act: 'gelu', image_size: 224, patch_size: 16, num_channels: 3,
    hidden_size: D, num_hidden_layers: LAYERS, num_attention_heads: 12, intermediate_size: MLP, layer_norm_eps: 1e-12, qkv_bias: true,
  }));
  const list = tensors();
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, shape] of list) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const fd = fs.openSync(path.join(dir, 'model.safetensors'), 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    fs.writeSync(fd, len);
    fs.writeSync(fd, h);
    let s = 12345;
    for (const [, shape, centre, bound] of list) {
      const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < v.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0; // LCG: the values only need to be fixed and spread
        v[i] = centre + ((s / 4294967296) * 2 - 1) * bound;
      }
      fs.writeSync(fd, new Uint8Array(v.buffer));
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** ViT-B/16 from a freshly written HF checkpoint (the folder is removed once the weights are loaded). */
export function buildHfVitB16(): NLModel {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nl-bench-vit_b16_hf-'));
  try {
    writeCheckpoint(dir);
    const file = path.join(dir, 'model.safetensors');
    const g = importSafetensorsVit(file, ModelFolder.of(file));
    return {
      format: g.format,
      source: 'bench:vit_b16_hf',
      name: 'vit_b16_hf',
      input: { height: 224, width: 224, channels: 3 },
      preprocess: g.defaultPreprocess!,
      layers: g.layers.map((l) => (l.name === g.logitsLayer ? { ...l, isLogits: true } : l)),
      logitsLayer: g.logitsLayer,
      classCount: countClasses(g.layers, g.logitsLayer),
      files: [],
      tap: (names, x) => g.run(x, names),
      dispose: () => g.dispose(),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
