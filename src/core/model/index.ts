// Loading any supported model file into the one NLModel interface.
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { importGraphModel, importLayersModel } from './tfjs';
import { importKerasFile } from './kerasfile';
import { importOnnxFile } from './onnx';
import type { ImportedGraph, NLModel, Preprocess } from './types';
import { meanStdPreprocess, rangePreprocess } from './preprocess';
import { countClasses } from './classes';
import { ModelFolder } from './folder';
import { modelFileKind, modelFileList } from './formats';
import { importSafetensorsVit } from './hf/vit';
import { pickleRefusal } from './hf/safetensors';
import { checkSidecar, type ModelSidecar } from './sidecar';
import { checkGraphNodes, checkStructure, TFJS_GRAPH_TOPOLOGY, TFJS_MODEL_JSON } from './schema';

export type { NLModel, LayerInfo, Preprocess } from './types';
export { changedFiles, type ModelFile } from './folder';
export { parseInputRange, rangePreprocess } from './preprocess';
export type { ModelSidecar } from './sidecar';

export interface LoadOptions {
  /** How an image in [0,1] maps to the model input (`--input-range lo,hi`); overrides neuron-lens.json. */
  inputRange?: [number, number];
}



function readSidecar(folder: ModelFolder): ModelSidecar {
  if (!folder.exists('neuron-lens.json')) return {};
  return checkSidecar(folder.readJson('neuron-lens.json', 'sidecar'), path.join(folder.dir, 'neuron-lens.json'));
}

/** Class names beside a model: neuron-lens.json, TF.js metadata.json, labels.txt or labels.json. */
function findLabels(folder: ModelFolder, sidecar: ModelSidecar): string[] | undefined {
  if (sidecar.labels) return sidecar.labels;
  if (folder.exists('metadata.json')) {
    const m = folder.readJson('metadata.json', 'labels file');
    if (Array.isArray(m?.labels)) return m.labels.map(String);
  }
  if (folder.exists('labels.txt')) {
    return folder.readText('labels.txt', 'labels file').split(/\r?\n/).filter((l) => l.trim().length > 0);
  }
  if (folder.exists('labels.json')) {
    const l = folder.readJson('labels.json', 'labels file');
    if (Array.isArray(l)) return l.map(String);
  }
  return undefined;
}

/** Resolves a user path (a model file, a folder holding model.json, or a Hugging Face / timm folder). */
export function resolveModelPath(p: string): string {
  const full = path.resolve(p);
  if (!fs.existsSync(full)) throw new Error(`model not found: ${full}`);
  if (fs.statSync(full).isDirectory()) {
    const mj = path.join(full, 'model.json');
    if (fs.existsSync(mj)) return mj;
    const st = path.join(full, 'model.safetensors');
    if (fs.existsSync(st)) return st;
    const pickle = ['pytorch_model.bin', 'model.pt', 'model.pth'].map((f) => path.join(full, f)).find((f) => fs.existsSync(f));
    if (pickle) throw new Error(pickleRefusal(pickle)!);
    throw new Error(`${full} is a folder without a model.json or a model.safetensors`);
  }
  return full;
}

export async function loadModel(p: string, opts: LoadOptions = {}): Promise<NLModel> {
  const file = resolveModelPath(p);
  const dir = path.dirname(file);
  const folder = ModelFolder.of(file);
  const kind = modelFileKind(file)?.pattern;
  let graph: ImportedGraph;
  if (path.extname(file).toLowerCase() === '.json') {
    const json = checkStructure(TFJS_MODEL_JSON, folder.readJson(path.basename(file), 'model file'), file);
    if (json.format === 'graph-model' || (json.modelTopology && Array.isArray(json.modelTopology.node))) {
      checkGraphNodes(checkStructure(TFJS_GRAPH_TOPOLOGY, json.modelTopology, `${file}: modelTopology`).node, file);
      graph = await importGraphModel(file, json, folder);
    }
    else if (json.modelTopology) graph = importLayersModel(file, json, folder);
    else throw new Error(`${file} is not a TF.js model (no "modelTopology")`);
  } else if (kind === '.keras' || kind === '.h5' || kind === '.hdf5') {
    graph = await importKerasFile(file, folder);
  } else if (kind === '.onnx') {
    graph = await importOnnxFile(file, folder);
  } else if (kind === '.safetensors') {
    graph = importSafetensorsVit(file, folder);
  } else {
    const pickle = pickleRefusal(file);
    if (pickle) throw new Error(pickle);
    throw new Error(`unsupported model file ${file}: expected ${modelFileList()}`);
  }
  let sidecar: ModelSidecar;
  let classNames: string[] | undefined;
  try {
    sidecar = readSidecar(folder);
    classNames = findLabels(folder, sidecar) ?? graph.classNames;
  } catch (e) {
    graph.dispose();
    throw e;
  }
  const [b, h, w, c] = graph.inputShape as (number | null)[] as number[];
  let preprocess: Preprocess;
  if (opts.inputRange) preprocess = rangePreprocess(opts.inputRange[0], opts.inputRange[1], c);
  else if (sidecar.inputRange) preprocess = rangePreprocess(sidecar.inputRange[0], sidecar.inputRange[1], c);
  else if (sidecar.mean && sidecar.std) {
    if (sidecar.mean.length !== c || sidecar.std.length !== c) throw new Error(`${path.join(dir, 'neuron-lens.json')}: mean/std need ${c} values (one per input channel)`);
    preprocess = meanStdPreprocess(sidecar.mean, sidecar.std);
  } else if (graph.defaultPreprocess && graph.defaultPreprocess.scale.length === c) preprocess = graph.defaultPreprocess;
  else preprocess = { ...rangePreprocess(0, 1, c), describe: '[0,1] (not declared: pass --input-range or add neuron-lens.json)' };
  let logitsLayer = graph.logitsLayer;
  let logitsFrom = logitsLayer ? 'found automatically (the input of a final softmax, or a linear output layer)' : undefined;
  const output = graph.layers.find((l) => l.name === graph.outputLayer);
  if (!logitsLayer && output && classNames && output.outputShape.length === 2 && output.outputShape[1] === classNames.length) {
    // A classifier that ends without a softmax (e.g. Tiny Darknet: global average pooling over the class channels).
    logitsLayer = output.name;
    logitsFrom = `the model's output: [N, ${classNames.length}] matches the ${classNames.length} class names and no softmax follows`;
  }
  if (sidecar.logitsLayer) {
    if (!graph.layers.some((l) => l.name === sidecar.logitsLayer)) {
      graph.dispose();
      throw new Error(`${path.join(dir, 'neuron-lens.json')}: logitsLayer "${sidecar.logitsLayer}" is not a layer of the model`);
    }
    logitsLayer = sidecar.logitsLayer;
    logitsFrom = 'set by "logitsLayer" in neuron-lens.json';
  }
  const layers = graph.layers.map(({ isLogits: _, ...l }) => (l.name === logitsLayer ? { ...l, isLogits: true } : l));
  return {
    format: graph.format,
    source: file,
    name: ['model.json', 'model.safetensors'].includes(path.basename(file)) ? path.basename(dir) : path.basename(file),
    input: { ...(b ? { batch: b } : {}), ...(graph.batchNote ? { batchNote: graph.batchNote } : {}), height: h, width: w, channels: c },
    preprocess,
    layers,
    logitsLayer,
    ...(logitsFrom ? { logitsFrom } : {}),
    classNames,
    classCount: countClasses(layers, logitsLayer),
    files: folder.files(),
    tap: (names: string[], x: tf.Tensor4D) => graph.run(x, names),
    dispose: () => graph.dispose(),
  };
}

/** The embedded default models shipped in the package's `models/` folder. */
export function embeddedModelsDir(): string {
  // Works from src/core/model (source) and from dist/ (bundle): walk up to the folder holding package.json.
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'models'))) return path.join(dir, 'models');
    dir = path.dirname(dir);
  }
  throw new Error('the embedded models folder was not found next to the package');
}

export const DEFAULT_MODEL = 'fashion_cnn';

export function embeddedModelPath(name = DEFAULT_MODEL): string {
  const p = path.join(embeddedModelsDir(), name, 'model.json');
  if (!fs.existsSync(p)) throw new Error(`embedded model "${name}" not found at ${p}`);
  return p;
}
